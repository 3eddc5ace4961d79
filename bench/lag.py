"""Lag from a write's acknowledgement to its visibility in GetJob, under a steady write load at half the
maximum rate, with the deployment of production: API processes without projections and one worker."""
from __future__ import annotations

import http.client
import json
import time

from bench.harness import Figure, percentile, serving
from jobstore.adapters.settings import Settings
from tests.e2e.server import Worker


class Client:
    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.key = key

    def call(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else json.dumps(body).encode()
        self.conn.request(method, path, body=data, headers={"rime-api-key": self.key,
                                                            "content-type": "application/json"})
        response = self.conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def max_write_rate(client: Client, seconds: float, prefix: str = "max") -> float:
    """Creations/s of new jobs `prefix`-0, `prefix`-1, ... (a prefix already used would rewrite jobs)."""
    started, n = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        status, _, body = client.call("POST", "/v1/jobs:upsert", {"job": {"jobId": f"{prefix}-{n}",
                                                                          "jobType": "JOB_TYPE_IMAGE_BUILDER"}})
        assert status == 200, body
        n += 1
    return n / (time.perf_counter() - started)


def lags_at_half_rate(writer: Client, reader: Client, writes: int, prefix: str) -> tuple[list[float], float]:
    """Seconds from each creation acknowledged through `writer` to the job visible in GetJob through `reader`,
    at half the maximum write rate; and that rate."""
    rate = max_write_rate(writer, 3.0, f"{prefix}-max")
    interval = 2.0 / rate  # half the maximum rate
    lags: list[float] = []
    for n in range(writes):
        due = time.perf_counter() + interval
        job_id = f"{prefix}-{n}"
        status, _, body = writer.call("POST", "/v1/jobs:upsert", {"job": {
            "jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}})
        acknowledged = time.perf_counter()
        assert status == 200, body
        while reader.call("GET", f"/v1/jobs/{job_id}")[0] != 200:
            if time.perf_counter() - acknowledged > 10:
                raise RuntimeError(f"{job_id} not visible after 10 s")
        lags.append(time.perf_counter() - acknowledged)
        time.sleep(max(0.0, due - time.perf_counter()))
    return lags, rate / 2


def run(settings: Settings, writes: int) -> list[Figure]:
    with serving(settings, serve_args=("--no-projections",)) as (server, key):
        worker = Worker(server, "bench").start()
        try:
            lags, rate = lags_at_half_rate(Client(server.port, key), Client(server.port, key), writes, "lag")
        finally:
            worker.stop()
    ms = 1000.0
    return [Figure(f"write rate over HTTP, one client (max), commands/s, rate used {rate:,.0f}/s", rate * 2, "/s"),
            Figure("lag from write acknowledged to visible in GetJob, p50", percentile(lags, 0.5) * ms, "ms"),
            Figure("lag from write acknowledged to visible in GetJob, p99", percentile(lags, 0.99) * ms, "ms",
                   None, "p99 < 100 ms", percentile(lags, 0.99) * ms < 100)]
