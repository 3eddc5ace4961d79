"""The benchmark suite: `bash bench/run` (PostgreSQL, full sizes, about ten minutes on 2 cores) or
`bash bench/run --smoke` (tiny sizes, targets not judged). Every figure with a target is printed beside a
baseline measured in the same run; bench/README.md keeps the latest figures."""
from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import catchup, http_reads, http_writes, lag, log_tree, scale, soak, standby, time_travel, watch, writes
from bench.harness import Figure, settle, store, table
from jobstore.adapters.runtime import tune_interpreter
from jobstore.adapters.settings import Settings

SETTLE_SECONDS = 60.0  # the longest a part waits for PostgreSQL's autovacuum of what the parts before wrote
SIZES = {
    "full": {"jobs": 600, "log_events": 200_000, "runner_seconds": 20, "http_seconds": 10, "lag_writes": 1000,
             "scale_small": 10_000, "scale_large": 1_000_000, "requests": 300, "long_job_events": 10_000,
             "soak": (8, 4, 50, 30.0), "watchers": 1000, "watch_seconds": 5.0, "tree_log_events": 1_000_000,
             "standby": (5, 4, 1000, 3)},
    "smoke": {"jobs": 5, "log_events": 500, "runner_seconds": 1, "http_seconds": 1, "lag_writes": 10,
              "scale_small": 100, "scale_large": 300, "requests": 10, "long_job_events": 120,
              "soak": (2, 2, 5, 2.0), "watchers": 20, "watch_seconds": 0.5, "tree_log_events": 600,
              "standby": (1, 1, 10, 1)},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that every part runs")
    parser.add_argument("--only", action="append", help="run only these parts (writes, http-writes, catchup, "
                                                        "reads, reads-sqlite, lag, scale, time-travel, watch, "
                                                        "log-tree, standby, soak)")
    args = parser.parse_args(argv)
    tune_interpreter()  # as jobstore's own processes do (adapters/cli.py)
    size = SIZES["smoke" if args.smoke else "full"]
    url = os.environ.get("JOBSTORE_TEST_DATABASE_URL")
    parts: dict[str, Callable[[Settings], list[Figure]]] = {
        "writes": lambda s: writes.run(s, size["jobs"]),
        "http-writes": lambda s: http_writes.run(s, size["jobs"]),
        "catchup": lambda s: catchup.run(s, size["log_events"], size["runner_seconds"]),
        "reads": lambda s: http_reads.run(s, size["http_seconds"]),
        "reads-sqlite": lambda s: http_reads.run(s, size["http_seconds"], "SQLite"),
        "lag": lambda s: lag.run(s, size["lag_writes"]),
        "scale": lambda s: scale.run(s, size["scale_small"], size["scale_large"], size["requests"]),
        "time-travel": lambda s: time_travel.run(s, size["long_job_events"], size["requests"]),
        "watch": lambda s: watch.run(s, int(size["watchers"]), float(size["watch_seconds"])),  # type: ignore[arg-type]
        "log-tree": lambda s: log_tree.run(s, size["jobs"], size["tree_log_events"], size["requests"]),
        "standby": lambda s: standby.run(s, *size["standby"]),  # type: ignore[misc]
        "soak": lambda s: soak.run(s, *size["soak"]),  # type: ignore[misc]
    }
    figures: list[Figure] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jobstore-bench-") as workdir:
        for name, part in parts.items():
            if args.only and name not in args.only:
                continue
            gc.collect()
            waited = settle(url, 0.0 if args.smoke else SETTLE_SECONDS)
            print(f"[{time.monotonic() - started:5.0f} s] {name} (after {waited}) ...", file=sys.stderr, flush=True)
            with store("sqlite" if name.endswith("-sqlite") else "postgres", url, Path(workdir)) as settings:
                figures += part(settings)
    print(f"\njobstore bench ({'smoke' if args.smoke else 'full'}; PostgreSQL unless a figure says SQLite) on "
          f"{platform.node()}: "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.monotonic() - started:.0f} s\n")
    print(table(figures))
    missed = [f.name for f in figures if f.met is False]
    if missed and not args.smoke:
        print("\ntargets missed:\n- " + "\n- ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
