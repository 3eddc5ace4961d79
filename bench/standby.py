"""Reads from a hot standby (issue 16), on a primary and streaming standby of the part's own (the bench's shared
PostgreSQL runs without one, so that replaying costs no other part its CPU):

- GetJob FULL over HTTP at 16 clients (wrk) from a server reading the standby, against the same server reading
  the primary, alternating rounds, medians;
- the lag from a write acknowledged (by a server on the primary) to the job visible in GetJob at a second server
  that reads the standby, at half the maximum write rate: projection, replication and replay together;
- with asynchronous replication, on a cluster of the part's own, the acknowledged writes a failover loses: a
  writer at full speed, the primary killed, the standby promoted, the acknowledged jobs missing counted.
"""
from __future__ import annotations

import dataclasses
import statistics
import tempfile
import threading
import time
import urllib.error
from http.client import HTTPException
from pathlib import Path

from bench.harness import Figure, percentile, serving
from bench.http_reads import seed_read_me, wrk
from bench.lag import Client, lags_at_half_rate
from jobstore.adapters.settings import Settings
from tests.e2e.private_postgres import PrivateCluster
from tests.e2e.server import Server


def run(settings: Settings, seconds: int, rounds: int, lag_writes: int, failover_rounds: int) -> list[Figure]:
    cluster = PrivateCluster().create(synchronous=False)
    try:
        on_cluster = dataclasses.replace(settings, database_url=cluster.primary_url)
        seed_read_me(on_cluster)
        figures = reads_and_lag(on_cluster, cluster.read_url, seconds, rounds, lag_writes)
    finally:
        cluster.destroy()
    lost = async_failover_loss(failover_rounds)
    return [*figures,
            Figure(f"asynchronous replication: acknowledged writes lost by a failover under full write load, "
                   f"mean of {failover_rounds}", statistics.mean(lost), "writes"),
            Figure("the same, most in one round", max(lost), "writes")]


def reads_and_lag(settings: Settings, read_url: str, seconds: int, rounds: int, lag_writes: int) -> list[Figure]:
    reads_standby = {"JOBSTORE_READ_DATABASE_URL": read_url}
    with serving(settings) as (primary, key), \
            serving(settings, serve_args=("--no-projections",), extra_env=reads_standby) as (standby, _):
        path = "/v1/jobs/read-me?view=JOB_VIEW_FULL"
        wrk(f"{standby.base}{path}", key, 2)  # warm up
        wrk(f"{primary.base}{path}", key, 2)
        on_primary, on_standby = [], []
        for _ in range(rounds):
            on_primary.append(wrk(f"{primary.base}{path}", key, seconds))
            on_standby.append(wrk(f"{standby.base}{path}", key, seconds))
        # Written through a server on the primary, read at a second server reading the standby.
        lags, rate = lags_at_half_rate(Client(primary.port, key), Client(standby.port, key), lag_writes,
                                       "standby-lag")
    from_primary, from_standby = statistics.median(on_primary), statistics.median(on_standby)
    ms = 1000.0
    return [
        Figure(f"GetJob FULL over HTTP, 16 clients, reads on the primary, median of {rounds}", from_primary, "/s"),
        Figure("the same, reads on the hot standby", from_standby, "/s", from_primary, ">= 0.9x",
               from_standby / from_primary >= 0.9),
        Figure(f"lag from write acknowledged to visible at a server reading the standby, {rate:,.0f} writes/s "
               "(half the max), p50", percentile(lags, 0.5) * ms, "ms"),
        Figure("the same, p99", percentile(lags, 0.99) * ms, "ms", None, "p99 < 100 ms",
               percentile(lags, 0.99) * ms < 100),
    ]


def async_failover_loss(rounds: int) -> list[int]:
    """Per round, how many acknowledged creations the promoted standby lacks: the window of acknowledged writes
    a failover lost."""
    lost = []
    for _ in range(rounds):
        cluster = PrivateCluster().create(synchronous=False)
        try:
            with tempfile.TemporaryDirectory(prefix="jobstore-bench-failover-") as home:
                server = Server(Path(home), cluster.url).start()
                try:
                    key = server.key("admin")
                    acknowledged: list[str] = []
                    stop = threading.Event()
                    writer = threading.Thread(target=_write_until, args=(server, key, stop, acknowledged))
                    writer.start()
                    time.sleep(1.5)
                    cluster.kill_primary()
                    stop.set()
                    writer.join(30)
                    cluster.promote_standby()
                    kept = set(_job_ids_in_log(cluster.standby_url))
                finally:
                    server.stop()
        finally:
            cluster.destroy()
        missing = [job_id for job_id in acknowledged if job_id not in kept]
        lost.append(len(missing))
    return lost


def _write_until(server: Server, key: str, stop: threading.Event, acknowledged: list[str]) -> None:
    n = 0
    while not stop.is_set():
        job_id = f"async-{n}"
        try:
            reply = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id,
                                                                    "jobType": "JOB_TYPE_IMAGE_BUILDER"}}, key=key)
        except (urllib.error.URLError, HTTPException, OSError):
            return
        if reply.status != 200:
            return
        acknowledged.append(job_id)
        n += 1


def _job_ids_in_log(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT convert_from(state, 'UTF8')::jsonb #>> '{data,jobId}' FROM jobstore_events "
                            "WHERE originator_version = 1").fetchall()
    return [str(job_id) for (job_id,) in rows]
