"""The benchmark suite in miniature, so that it never rots: every part runs on tiny sizes and prints its table."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import postgres_url

ROOT = Path(__file__).resolve().parents[2]


def test_every_part_of_the_benchmark_suite_runs_and_prints_its_figures() -> None:
    url = postgres_url()
    done = subprocess.run([sys.executable, "-m", "bench.suite", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
                                            "JOBSTORE_TEST_DATABASE_URL": url})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for figure in ("job commands/s through the application service", "engine catch-up into both views",
                   "ProjectionRunner catch-up", "GetJob FULL over HTTP", "GetJob FULL over gRPC",
                   "grpc.health.v1 Check", "job commands over gRPC", "lag from write acknowledged",
                   "first page of a project's jobs", "?version=N", "?asOf=T", "soak: 5xx answers",
                   "reads on the hot standby", "visible at a server reading the standby",
                   "acknowledged writes lost by a failover"):
        assert figure in done.stdout, f"missing figure {figure!r}:\n{done.stdout}"
    assert "| soak: broken promises (log vs answers, illegal paths)      |            0 |" in done.stdout
    values = re.findall(r"\|\s+([\d,]+\.\d\d) (?:/s|ms)", done.stdout)
    assert values and all(float(v.replace(",", "")) > 0 for v in values)
