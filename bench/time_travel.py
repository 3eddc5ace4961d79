"""Time travel on a long job: `?version=N` and `?asOf=` rebuilt from the log (a snapshot every 20 events)."""
from __future__ import annotations

import os
import random
from dataclasses import replace
from urllib.parse import quote, urlsplit

from bench.harness import Figure, latencies, median, percentile, serving
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.document import format_time
from jobstore.domain.job import Provenance
from jobstore.domain.requests import UpsertJobRequest, parse_request

BY = Provenance("bench", "writer", "bench")


def long_job(settings: Settings, events: int) -> tuple[str, list[str]]:
    """A stress test job with `events` events (progress reports); returns its id and every recordedAt."""
    services = open_services(settings)
    try:
        job_id = "long-job"
        services.jobs.upsert(parse_request(UpsertJobRequest, {"job": {
            "jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_PENDING"}}), BY)
        mask = {"jobData": {"stress": {"progress": True}}}
        for n in range(1, events):
            batches = [{"type": f"batch-{i}", "status": "TEST_TASK_STATUS_COMPLETED" if i < n % 50 else
                        "TEST_TASK_STATUS_PENDING"} for i in range(50)]
            services.jobs.upsert(parse_request(UpsertJobRequest, {"job": {"jobId": job_id, "jobData": {"stress": {
                "progress": {"testRun": {"testRunId": f"r{n}", "testBatches": batches}}}}}, "writeMask": mask}), BY)
        services.engine.catch_up()
        times = [format_time(e.event.timestamp) for e in services.audit.history(job_id)]
        return job_id, times
    finally:
        services.close()


def run(settings: Settings, events: int, requests: int) -> list[Figure]:
    job_id, times = long_job(settings, events)
    rng = random.Random(7)
    with serving(settings) as (server, key):
        base = f"/v1/jobs/{quote(job_id)}?view=JOB_VIEW_FULL"
        latencies(server, key, lambda i: base, 20)  # warm up each path
        latencies(server, key, lambda i: f"{base}&version={rng.randint(1, events)}", 20)
        latencies(server, key, lambda i: f"{base}&asOf={quote(rng.choice(times))}", 20)
        current = latencies(server, key, lambda i: base, requests)
        by_version = latencies(server, key, lambda i: f"{base}&version={rng.randint(1, events)}", requests)
        as_of = latencies(server, key, lambda i: f"{base}&asOf={quote(rng.choice(times))}", requests)
    ms = 1000.0
    view_p50 = median(current) * ms
    figures = [
        Figure(f"GetJob FULL from the view, {events:,}-event job, p50", view_p50, "ms"),
        Figure(f"?version=N, {events:,}-event job, p50", median(by_version) * ms, "ms", view_p50),
        Figure(f"?version=N, {events:,}-event job, p99", percentile(by_version, 0.99) * ms, "ms", view_p50,
               "< 50 ms", percentile(by_version, 0.99) * ms < 50),
        Figure(f"?asOf=T, {events:,}-event job, p50", median(as_of) * ms, "ms", view_p50),
        Figure(f"?asOf=T, {events:,}-event job, p99", percentile(as_of, 0.99) * ms, "ms", view_p50,
               "< 50 ms", percentile(as_of, 0.99) * ms < 50),
    ]
    socket_dir = os.environ.get("JOBSTORE_TEST_SOCKET_DIR")
    if socket_dir:  # the same server reaching PostgreSQL through its Unix socket instead of loopback TCP
        tcp = urlsplit(settings.database_url or "")
        through_socket = replace(settings, home=settings.home.with_name(settings.home.name + "-socket"),
                                 database_url=f"postgresql://{tcp.username}@{tcp.path}?host={socket_dir}&port={tcp.port}")
        with serving(through_socket) as (server, key):
            latencies(server, key, lambda i: f"{base}&asOf={quote(rng.choice(times))}", 20)
            as_of_socket = latencies(server, key, lambda i: f"{base}&asOf={quote(rng.choice(times))}", requests)
        figures.append(Figure(f"?asOf=T, {events:,}-event job, p99, through the Unix socket",
                              percentile(as_of_socket, 0.99) * ms, "ms", view_p50))
    return figures
