"""GetJob FULL at 16 concurrent clients, beside the same server's cheapest call (the health check): over HTTP,
the load from wrk (Debian package), a second process on loopback; then over gRPC, 16 callers on one channel from
the bench's own process (bench/grpc_load.py) against grpc.health.v1's Check."""
from __future__ import annotations

import re
import shutil
import subprocess

from bench import grpc_load
from bench.harness import Figure, serving
from bench.writes import BY, lifecycle
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings

ROUNDS = 8


def wrk(url: str, key: str, seconds: int, connections: int = 16) -> float:
    done = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"rime-api-key: {key}", url],
                          capture_output=True, text=True, check=True)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if non_2xx:
        raise RuntimeError(f"wrk saw {non_2xx.group(1)} failed responses from {url}:\n{done.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    assert match, done.stdout
    return float(match.group(1))


def seed_read_me(settings: Settings) -> None:
    """The job the read figures ask for, `read-me`, through its whole lifecycle, and the views caught up."""
    services = open_services(settings)
    try:
        for request in lifecycle("read-me"):
            services.jobs.upsert(request, BY)
        services.engine.catch_up()
    finally:
        services.close()


def run(settings: Settings, seconds: int, store: str = "") -> list[Figure]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (bench/run installs the Debian package)")
    seed_read_me(settings)
    with serving(settings) as (server, key):
        wrk(f"{server.base}/healthz", key, 2)  # warm up
        health = wrk(f"{server.base}/healthz", key, seconds)
        get_job = wrk(f"{server.base}/v1/jobs/read-me?view=JOB_VIEW_FULL", key, seconds)
        grpc_health, grpc_get_job = grpc_rates(server.grpc_target, key, seconds)
    on = f", {store}" if store else ""
    return [Figure(f"health check over HTTP, 16 clients{on}, requests/s (baseline)", health, "/s"),
            Figure(f"GetJob FULL over HTTP, 16 clients{on}, requests/s", get_job, "/s", health, ">= 0.6x",
                   get_job / health >= 0.6),
            Figure(f"grpc.health.v1 Check, 16 callers{on}, calls/s (baseline)", grpc_health, "/s"),
            Figure(f"GetJob FULL over gRPC, 16 callers{on}, calls/s", grpc_get_job, "/s", grpc_health, ">= 0.6x",
                   grpc_get_job / grpc_health >= 0.6)]


def grpc_rates(target: str, key: str, seconds: int) -> tuple[float, float]:
    """(health checks/s, GetJob FULL calls/s) from 16 callers on one channel, in ROUNDS pairs of windows side by
    side (each pair starting with the other call than the pair before): the pair whose ratio is the median of the
    pairs' ratios. A pair's two windows meet the same moment of the machine, whose speed drifts from one second to
    the next; until the fourteenth session each figure was the best of its four windows, and the PostgreSQL row
    read 0.59x and 0.75x in two full runs of the same code, 0.69x to 0.82x in runs of this part alone."""
    request = grpc_load.get_job_request("read-me")
    shown = rime.GetJobResponse.FromString(grpc_load.answer(target, key, grpc_load.GET_JOB, request)).job
    assert shown.job_id == "read-me" and shown.job_progress_str, f"GetJob FULL did not show the job: {shown}"
    calls = {"health": (grpc_load.HEALTH_CHECK, grpc_load.HEALTH_CHECK_REQUEST),
             "get_job": (grpc_load.GET_JOB, request)}
    for path, sent in calls.values():  # warm up
        grpc_load.for_seconds(target, key, path, sent, 16, 1)
    pairs = []
    window = 2 * seconds / ROUNDS  # 2.5 s at full size, as the four windows each were before
    for round_number in range(ROUNDS):
        rates = {}
        for name in (calls if round_number % 2 == 0 else reversed(calls)):
            path, sent = calls[name]
            rates[name] = grpc_load.for_seconds(target, key, path, sent, 16, window)
        pairs.append((rates["health"], rates["get_job"]))
    pairs.sort(key=lambda pair: pair[1] / pair[0])
    return pairs[len(pairs) // 2]
