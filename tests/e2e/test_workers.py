"""Projection workers as operators run them: API processes without projections, `jobstore project` workers
that are killed and restarted (the views and the log's Merkle tree stay exactly once), standbys that take over,
and a rebuild under load."""
from __future__ import annotations

import base64
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobstore.domain.checkpoint import Checkpoint
from jobstore.domain.merkle import RootBuilder, leaf_hash, verify_inclusion
from tests.conftest import SOAK, unique
from tests.e2e.conftest import StoreLocation
from tests.e2e.server import Server, Worker


@dataclass
class Deployment:
    api: Server
    key: str
    workers: list[Worker] = field(default_factory=list)

    def worker(self) -> Worker:
        started = Worker(self.api, str(len(self.workers))).start()
        self.workers.append(started)
        return started


@pytest.fixture
def deployment(store: StoreLocation, tmp_path: Path) -> Iterator[Deployment]:
    url, schema = store
    api = Server(tmp_path / "home", url, schema, serve_args=("--no-projections",),
                 extra_env={"JOBSTORE_PROJECTION_BATCH_SIZE": "5"})
    key = api.key("admin", "ops")
    api.start()
    deployed = Deployment(api, key)
    yield deployed
    for worker in deployed.workers:
        worker.stop()
    api.stop()


class Writer(threading.Thread):
    """Steady writes through the API: creates jobs and moves them along; remembers what was acknowledged."""

    def __init__(self, api: Server, key: str, commands: int) -> None:
        super().__init__(daemon=True)
        self.api, self.key, self.commands = api, key, commands
        self.acknowledged: list[tuple[str, int]] = []
        self.failures: list[str] = []

    def run(self) -> None:
        jobs: list[str] = []
        for n in range(self.commands):
            if not jobs or n % 4 == 0:
                job_id = unique("load")
                body = {"job": {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                "jobData": {"stress": {"projectId": {"uuid": "load-project"}}}}}
                jobs.append(job_id)
            else:
                job_id = random.choice(jobs)
                body = {"job": {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {
                    "testRunId": f"run-{n}", "testBatches": []}}}}},
                    "writeMask": {"jobData": {"stress": {"progress": True}}}}
            reply = self.api.call("POST", "/v1/jobs:upsert", body, key=self.key)
            if reply.status != 200:
                self.failures.append(f"{reply.status} {reply.body}")
            elif "x-jobstore-position" in reply.headers:
                self.acknowledged.append((job_id, int(reply.headers["x-jobstore-position"])))


def views_reach(api: Server, key: str, job_id: str, position: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        reply = api.call("GET", f"/v1/jobs/{job_id}?minPosition={position}", key=key)
        if reply.status == 200 or time.monotonic() > deadline:
            assert reply.status == 200, (reply.status, reply.body)
            return


def assert_views_equal_the_log(api: Server) -> None:
    verified = api.cli("audit", "verify", timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def assert_tree_equals_one_built_from_scratch(api: Server, key: str, timeout: float = 30) -> None:
    """The Merkle tree the workers kept, through kills, has the root of a tree built from the log's events, and
    proves random events in it."""
    hashes, positions, after = [], [], 0
    while True:
        page = api.call("GET", f"/v1/events?afterPosition={after}&limit=1000", key=key).body
        if not page["events"]:
            break
        hashes += [bytes.fromhex(e["hash"]) for e in page["events"]]
        positions += [e["position"] for e in page["events"]]
        after = page["nextPosition"]
    built = RootBuilder()
    for hashed in hashes:
        built.add(leaf_hash(hashed))
    reply = api.eventually("/v1/log/checkpoint", key, lambda r: r.status == 200 and
                           int(r.body.split("\n")[1]) >= len(hashes), timeout=timeout)
    kept = Checkpoint.parse(reply.body.split("\n\n")[0] + "\n")
    assert (kept.size, kept.root) == (len(hashes), built.root())
    for index in random.sample(range(len(hashes)), min(5, len(hashes))):
        proof = api.call("GET", f"/v1/log/proof/inclusion?position={positions[index]}", key=key).body
        verify_inclusion(index, kept.size, leaf_hash(hashes[index]),
                         [base64.b64decode(h) for h in proof["hashes"]], kept.root)


def test_a_worker_killed_mid_batch_under_write_load_resumes_and_the_views_equal_the_log(
        deployment: Deployment) -> None:
    worker = deployment.worker()
    writer = Writer(deployment.api, deployment.key, commands=3000 if SOAK else 400)
    writer.start()
    for _ in range(20 if SOAK else 5):
        time.sleep(random.uniform(0.2, 0.5))
        worker.kill()
        worker = deployment.worker()
    writer.join(600)
    assert writer.failures == []
    job_id, last = writer.acknowledged[-1]
    views_reach(deployment.api, deployment.key, job_id, last)
    assert_views_equal_the_log(deployment.api)
    assert_tree_equals_one_built_from_scratch(deployment.api, deployment.key)
    listed, token = [], ""
    while True:
        page = deployment.api.call("GET", f"/v1/jobs/project/load-project?pageSize=500&minPosition={last}"
                                   + (f"&pageToken={token}" if token else ""), key=deployment.key).body
        listed += [j["jobId"] for j in page["jobs"]]
        if not page["hasMore"]:
            break
        token = page["nextPageToken"]
    assert sorted(listed) == sorted({j for j, _ in writer.acknowledged})


def test_a_standby_takes_over_within_five_seconds_when_the_active_worker_dies(
        deployment: Deployment, backend: str) -> None:
    first = deployment.worker()
    deadline = time.monotonic() + 10
    while not first.is_active() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.is_active(), first.log()
    second = deployment.worker()
    time.sleep(2.5)
    if backend == "postgres":
        assert not second.is_active(), "two workers active for one view on PostgreSQL"
    first.kill()
    died = time.monotonic()
    while not second.is_active() and time.monotonic() - died < 5:
        time.sleep(0.1)
    assert second.is_active(), second.log()
    assert time.monotonic() - died < 5
    writer = Writer(deployment.api, deployment.key, commands=20)
    writer.run()
    job_id, last = writer.acknowledged[-1]
    views_reach(deployment.api, deployment.key, job_id, last, timeout=10)
    assert_views_equal_the_log(deployment.api)


def test_a_rebuild_under_write_load_swaps_with_no_reader_seeing_a_missing_job(store: StoreLocation,
                                                                            tmp_path: Path) -> None:
    url, schema = store
    api = Server(tmp_path / "home", url, schema)
    key = api.key("admin", "ops")
    api.start()
    try:
        seed = Writer(api, key, commands=120)
        seed.run()
        visible = [job for job, _ in seed.acknowledged]
        views_reach(api, key, *seed.acknowledged[-1])
        writer = Writer(api, key, commands=300)
        missing: list[str] = []
        stop = threading.Event()

        def read() -> None:
            while not stop.is_set():
                job_id = random.choice(visible)
                for view in ("JOB_VIEW_BASIC", "JOB_VIEW_FULL"):
                    reply = api.call("GET", f"/v1/jobs/{job_id}?view={view}", key=key)
                    if reply.status != 200:
                        missing.append(f"{job_id} {view}: {reply.status} {reply.body}")

        reader = threading.Thread(target=read, daemon=True)
        writer.start()
        reader.start()
        rebuilt = api.cli("rebuild", timeout=300)
        stop.set()
        writer.join(120)
        reader.join(30)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "now served by job_view_basic_r" in rebuilt.stdout and "job_view_full_r" in rebuilt.stdout
        assert missing == []
        views_reach(api, key, *writer.acknowledged[-1])
        assert_views_equal_the_log(api)
    finally:
        api.stop()
