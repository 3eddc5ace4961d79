"""Failover with nothing lost: under write load from several clients, on a primary with a synchronous standby, the
primary is killed (every process of it, as the loss of its machine) and the standby promoted. The same two
`jobstore serve` processes, not restarted, find the new primary through their multi-host URL
(target_session_attrs=read-write) and carry on. Every write acknowledged before, during and after is in the log
exactly once, at the position it was acknowledged with; writes the clients saw fail were retried with their
idempotency keys and applied once; `jobstore audit verify` passes (chains, and views equal to a replay of the
log); the projection workers resumed where they had committed."""
from __future__ import annotations

import threading
import time
import urllib.error
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.private_postgres import PrivateCluster
from tests.e2e.server import Server, ok

CLIENTS = 4
RETRY_FOR_SECONDS = 60.0


def progress(job_id: str, done: int) -> dict[str, Any]:
    """A progress report of `done` completed test batches: each report changes the job, so each is one event."""
    batches = [{"type": f"batch-{n}", "status": "TEST_TASK_STATUS_COMPLETED"} for n in range(done)]
    return {"job": {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {
        "testRunId": f"run-{job_id}", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": batches}}}}},
        "writeMask": {"jobData": {"stress": {"progress": True}}}}


@dataclass
class Acknowledged:
    request_id: str
    position: int
    at: float
    attempts: int


@dataclass
class Client:
    """Writes one job's progress, report after report; each report is sent until it is acknowledged, with the
    same idempotency key and request id, to either server in turn."""

    number: int
    servers: list[Server]
    key: str
    acknowledged: list[Acknowledged] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    gave_up: list[str] = field(default_factory=list)
    unpositioned: list[str] = field(default_factory=list)  # acknowledged without their event's position

    @property
    def job_id(self) -> str:
        return f"failover-{self.number}"

    def send(self, body: dict[str, Any], request_id: str) -> None:
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        attempt = 0
        while time.monotonic() < deadline:
            server = self.servers[(self.number + attempt) % len(self.servers)]
            attempt += 1
            try:
                reply = server.call("POST", "/v1/jobs:upsert", body, key=self.key,
                                    headers={"Idempotency-Key": request_id, "X-Request-Id": request_id})
            except (urllib.error.URLError, HTTPException, OSError) as error:
                self.failures[type(error).__name__] += 1
                time.sleep(0.05)
                continue
            if reply.status == 200 and "x-jobstore-position" not in reply.headers:
                self.unpositioned.append(request_id)
                return
            if reply.status == 200:
                self.acknowledged.append(Acknowledged(request_id, int(reply.headers["x-jobstore-position"]),
                                                      time.monotonic(), attempt))
                return
            self.failures[f"{reply.status} {reply.body.get('code') if isinstance(reply.body, dict) else ''}"] += 1
            time.sleep(0.05)
        self.gave_up.append(request_id)

    def run(self, stop: threading.Event) -> None:
        self.send({"job": {"jobId": self.job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                           "jobData": {"stress": {"projectId": {"uuid": "failover"}, "testRunId": "r"}}}},
                  f"{self.job_id}-create")
        done = 0
        while not stop.is_set() and not self.gave_up and not self.unpositioned:
            done += 1
            self.send(progress(self.job_id, done), f"{self.job_id}-{done}")


def every_event(server: Server, key: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ok(server.call("GET", f"/v1/events?afterPosition={after}&limit=1000", key=key)).body
        events.extend(page["events"])
        if not page["events"]:
            return events
        after = page["events"][-1]["position"]


@pytest.mark.parametrize("cluster", ["synchronous"], indirect=True)
def test_a_killed_primary_fails_over_to_its_synchronous_standby_and_no_acknowledged_write_is_lost_or_doubled(
        cluster: PrivateCluster, tmp_path: Path) -> None:
    servers = [Server(tmp_path / "a", cluster.url).start(),
               Server(tmp_path / "b", cluster.url, extra_env={"JOBSTORE_READ_DATABASE_URL": cluster.read_url}).start()]
    try:
        key = servers[0].key("admin")
        pids = [server.process.pid for server in servers if server.process]
        clients = [Client(n, servers, key) for n in range(CLIENTS)]
        stop = threading.Event()
        threads = [threading.Thread(target=client.run, args=(stop,)) for client in clients]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = sum(len(c.acknowledged) for c in clients)
        cluster.kill_primary()
        time.sleep(1.0)  # writes fail meanwhile: no server accepts them
        cluster.promote_standby()
        promoted = time.monotonic()
        time.sleep(3.0)
        stop.set()
        for thread in threads:
            thread.join(RETRY_FOR_SECONDS + 10)

        assert [c.gave_up for c in clients] == [[]] * CLIENTS, [c.failures for c in clients]
        assert [c.unpositioned for c in clients] == [[]] * CLIENTS, "a write that was applied tells where"
        assert before >= CLIENTS, "the load ran before the failover"
        for client in clients:  # each client's writes went on against the new primary
            assert any(a.at > promoted for a in client.acknowledged), (client.number, client.failures)
        interrupted = [a for c in clients for a in c.acknowledged if a.attempts > 1]
        assert interrupted, "some writes were caught by the failover and retried"
        assert [s.process.pid for s in servers if s.process and s.process.poll() is None] == pids  # not restarted

        events = every_event(servers[0], key)
        by_request = Counter(event["requestId"] for event in events)
        acknowledged = {a.request_id: a for c in clients for a in c.acknowledged}
        assert set(by_request) == set(acknowledged), "the log holds exactly the acknowledged writes"
        assert [r for r, n in by_request.items() if n != 1] == [], "each once"
        positions = {event["requestId"]: event["position"] for event in events}
        assert {r: a.position for r, a in acknowledged.items()} == positions, "at the acknowledged positions"

        verified = servers[1].cli("audit", "verify", timeout=120)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        for client in clients:  # the views (read through the promoted standby) hold the last report
            last = len(client.acknowledged) - 1
            job = ok(servers[1].call("GET", f"/v1/jobs/{client.job_id}?view=JOB_VIEW_FULL&minPosition="
                                            f"{client.acknowledged[-1].position}", key=key)).body["job"]
            assert len(job["jobData"]["stress"]["progress"]["testRun"]["testBatches"]) == last
        ready = [server.call("GET", "/readyz") for server in servers]
        assert [r.status for r in ready] == [200, 200], [r.body for r in ready]
    finally:
        for server in servers:
            server.stop()
