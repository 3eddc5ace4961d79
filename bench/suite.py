"""The benchmark suite: `bash bench/run` (PostgreSQL, full sizes) or `--smoke` (tiny sizes, no targets).

Every figure that has a target is printed beside a baseline measured in the same run.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from bench import time_travel
from bench.harness import Figure, store, table

SIZES = {
    "full": {"long_job_events": 10_000, "requests": 300},
    "smoke": {"long_job_events": 120, "requests": 10},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to check that the suite runs")
    parser.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args(argv)
    sizes = SIZES["smoke" if args.smoke else "full"]
    url = os.environ.get("JOBSTORE_TEST_DATABASE_URL")
    figures: list[Figure] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="jobstore-bench-") as workdir:
        print(f"time travel on a {sizes['long_job_events']:,}-event job ...", file=sys.stderr, flush=True)
        with store(args.backend, url, Path(workdir)) as settings:
            figures += time_travel.run(settings, sizes["long_job_events"], sizes["requests"])
    print(f"\njobstore bench ({'smoke' if args.smoke else 'full'}, {args.backend}) on {platform.node()}: "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.monotonic() - started:.0f} s\n")
    print(table(figures))
    missed = [f.name for f in figures if f.met is False]
    if missed and not args.smoke:
        print(f"\ntargets missed: {', '.join(missed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
