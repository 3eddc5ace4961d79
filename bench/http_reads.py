"""GetJob FULL over HTTP at 16 concurrent clients, beside the same server's cheapest route (the health check).
The load comes from wrk (Debian package), a second process on loopback."""
from __future__ import annotations

import re
import shutil
import subprocess

from bench.harness import Figure, serving
from bench.writes import BY, lifecycle
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings


def wrk(url: str, key: str, seconds: int, connections: int = 16) -> float:
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"rime-api-key: {key}", url],
                          capture_output=True, text=True, check=True)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed responses from {url}:\n{done.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match, done.stdout
    return float(match.group(1))


def run(settings: Settings, seconds: int, store: str = "") -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (bench/run installs the Debian package)")
    services = open_services(settings)
    try:
        for request in lifecycle("read-me"):
            services.jobs.upsert(request, BY)
        services.engine.catch_up()
    finally:
        services.close()
    with serving(settings) as (server, key):
        wrk(f"{server.base}/healthz", key, 2)  # warm up
        health = wrk(f"{server.base}/healthz", key, seconds)
        get_job = wrk(f"{server.base}/v1/jobs/read-me?view=JOB_VIEW_FULL", key, seconds)
    on = f", {store}" if store else ""
    return [Figure(f"health check over HTTP, 16 clients{on}, requests/s (baseline)", health, "/s"),
            Figure(f"GetJob FULL over HTTP, 16 clients{on}, requests/s", get_job, "/s", health, ">= 0.6x",
                   get_job / health >= 0.6)]
