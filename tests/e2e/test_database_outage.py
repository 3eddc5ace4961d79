"""PostgreSQL goes away under a steady write load and comes back: the API answers UNAVAILABLE fast meanwhile,
recovers by itself, and loses no acknowledged write."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SOAK, postgres_url, unique
from tests.e2e.private_postgres import PrivatePostgres
from tests.e2e.server import Server


@pytest.fixture
def cluster() -> Iterator[PrivatePostgres]:
    postgres_url()  # in CI a missing PostgreSQL fails here rather than skipping
    created = PrivatePostgres().create()
    yield created
    created.destroy()


class SteadyWriter(threading.Thread):
    def __init__(self, server: Server, key: str) -> None:
        super().__init__(daemon=True)
        self.server, self.key = server, key
        self.stop = threading.Event()
        self.acknowledged: dict[str, int] = {}
        self.refused: list[tuple[int, object, float]] = []

    def run(self) -> None:
        while not self.stop.is_set():
            job_id = unique("steady")
            started = time.monotonic()
            try:
                reply = self.server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id,
                                                                             "jobType": "JOB_TYPE_IMAGE_BUILDER"}},
                                         key=self.key)
            except OSError as error:
                self.refused.append((0, repr(error), time.monotonic() - started))
                continue
            if reply.status == 200:
                self.acknowledged[job_id] = int(reply.headers["x-jobstore-position"])
            else:
                self.refused.append((reply.status, reply.body, time.monotonic() - started))
            time.sleep(0.01)


def test_a_database_restart_under_write_load_loses_no_acknowledged_write(cluster: PrivatePostgres,
                                                                         tmp_path: Path) -> None:
    server = Server(tmp_path / "home", cluster.url)
    key = server.key("admin", "steady")
    server.start()
    writer = SteadyWriter(server, key)
    try:
        writer.start()
        for _ in range(3 if SOAK else 1):  # `bash bench/run --soak`: longer outages, several of them
            time.sleep(1.5)
            before = len(writer.acknowledged)
            cluster.stop()
            time.sleep(10 if SOAK else 3)
            asked = time.monotonic()
            during = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": unique("down"),
                                                                     "jobType": "JOB_TYPE_IMAGE_BUILDER"}}, key=key)
            assert during.status == 503 and during.body["code"] == 14, during.body
            assert time.monotonic() - asked < 8, "a write hung during the outage"
            read = server.call("GET", f"/v1/jobs/{next(iter(writer.acknowledged))}", key=key)
            assert read.status == 503 and read.body["code"] == 14, read.body
            ready = server.call("GET", "/readyz")
            assert ready.status == 503 and "unreachable" in ready.body["message"]
            cluster.start()
            deadline = time.monotonic() + 30
            while len(writer.acknowledged) <= before + 5:
                assert time.monotonic() < deadline, f"no recovery: {writer.refused[-3:]}"
                time.sleep(0.1)
        writer.stop.set()
        writer.join(30)

        assert {status for status, _, _ in writer.refused} <= {503}, writer.refused[:5]
        assert all(seconds < 8 for _, _, seconds in writer.refused), "a request hung during the outage"
        last = max(writer.acknowledged.values())
        for job_id, position in writer.acknowledged.items():
            reply = server.call("GET", f"/v1/jobs/{job_id}?minPosition={last}", key=key)
            assert reply.status == 200, f"acknowledged {job_id} (position {position}) is missing: {reply.body}"
        verified = server.cli("audit", "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert server.call("GET", "/readyz").status == 200
    finally:
        writer.stop.set()
        server.stop()
