"""Reads from PostgreSQL hot standbys (JOBSTORE_READ_DATABASE_URL): every read route answers from a standby as
it does from the primary once the standby holds the position asked for; a server still shows each client its
own writes; /readyz, /metrics and `jobstore status` say which server answers reads and how far each standby
trails; when the standby stops, reads go to the primary with no error, and back when it returns."""
from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import drop_schema, postgres_setting, postgres_url
from tests.e2e.conftest import Keys
from tests.e2e.private_postgres import PrivateCluster
from tests.e2e.server import Reply, Server, ok, upsert
from tests.e2e.transports import Grpc

STRESS = "JOB_TYPE_MODEL_STRESS_TEST"


def standby_url() -> str:
    return postgres_setting("JOBSTORE_TEST_STANDBY_URL")


class Pair:
    """Two servers on one store: `primary` reads the primary, `standby` reads the hot standby."""

    def __init__(self, primary: Server, standby: Server, keys: Keys) -> None:
        self.primary, self.standby, self.keys = primary, standby, keys


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    url, schema = postgres_url(), f"e_{uuid.uuid4().hex[:12]}"
    home = Path(tmp_path_factory.mktemp("standby-reads"))
    primary = Server(home / "primary", url, schema).start()
    standby = Server(home / "standby", url, schema, extra_env={"JOBSTORE_READ_DATABASE_URL": standby_url()}).start()
    try:
        keys = Keys(admin=primary.key("admin"), writer=primary.key("writer"), reader=primary.key("reader"),
                    auditor=primary.key("auditor"))
        yield Pair(primary, standby, keys)
    finally:
        standby.stop()
        primary.stop()
        drop_schema(url, schema)


def position(reply: Reply) -> int:
    return int(ok(reply).headers["x-jobstore-position"])


def a_stress_test_that_succeeded(server: Server, key: str, project: str) -> tuple[str, int]:
    job_id = f"standby-{uuid.uuid4().hex[:10]}"
    ok(upsert(server, key, {"jobId": job_id, "jobType": STRESS, "agentId": {"uuid": "agent-s"},
                            "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": f"run-{job_id}"}}}))
    for status in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_SUCCEEDED"):
        last = upsert(server, key, {"jobId": job_id, "status": status}, {"status": True})
    return job_id, position(last)


def without_moving_parts(reply: Reply) -> Any:
    """An answer with the figures that change from one moment to the next (a running job's time) left out."""
    text = re.sub(r'"runningTimeSecs": ?[0-9.e+-]+', '"runningTimeSecs": 0', str(ok(reply).body))
    return re.sub(r"'runningTimeSecs': [0-9.e+-]+", "'runningTimeSecs': 0", text)


def test_every_read_route_answers_from_the_standby_as_from_the_primary_once_it_holds_the_position(
        pair: Pair) -> None:
    keys, project = pair.keys, f"proj-{uuid.uuid4().hex[:8]}"
    written = [a_stress_test_that_succeeded(pair.primary, keys.writer, project) for _ in range(3)]
    job_id, at = written[-1]
    moment = ok(pair.primary.call("GET", f"/v1/jobs/{job_id}/events", key=keys.auditor)).body["events"][1]["recordedAt"]
    reads = [  # (path, key), minPosition added where the route takes it
        (f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL&minPosition={at}", keys.reader),
        (f"/v1/jobs/{job_id}?minPosition={at}", keys.reader),
        (f"/v1/jobs/project/{project}?minPosition={at}", keys.reader),
        (f"/v1/jobs?agentId.uuid=agent-s&pageSize=2&minPosition={at}", keys.reader),
        (f"/v1/jobs/{job_id}/project-id?minPosition={at}", keys.reader),
        (f"/v1/jobs/{job_id}/test-run-id?minPosition={at}", keys.reader),
        (f"/v1/jobs/{job_id}/events", keys.auditor),
        (f"/v1/jobs/{job_id}?version=2", keys.auditor),
        (f"/v1/jobs/{job_id}?asOf={moment}", keys.auditor),
        (f"/v1/events?afterPosition={at - 8}&limit=5", keys.auditor),
    ]
    for path, key in reads:
        from_standby = pair.standby.call("GET", path, key=key)
        assert without_moving_parts(from_standby) == without_moving_parts(pair.primary.call("GET", path, key=key)), \
            path
    statements = metric(pair.standby, 'jobstore_read_statements_total{server="standby"}')
    assert statements >= len(reads)
    assert metric(pair.standby, 'jobstore_read_statements_total{server="primary"}') == 0


def test_the_grpc_reads_answer_from_the_standby_as_from_the_primary(pair: Pair) -> None:
    keys, project = pair.keys, f"proj-{uuid.uuid4().hex[:8]}"
    job_id, at = a_stress_test_that_succeeded(pair.primary, keys.writer, project)
    on_primary, on_standby = Grpc(pair.primary), Grpc(pair.standby)
    try:
        for read in (lambda t: t.get_job(job_id, "JOB_VIEW_FULL", key=keys.reader, min_position=at),
                     lambda t: t.list_jobs_for_project(project, key=keys.reader, min_position=at),
                     lambda t: t.get_test_run_id(job_id, key=keys.reader, min_position=at),
                     lambda t: t.history(job_id, key=keys.auditor),
                     lambda t: t.as_it_was(job_id, version=2, key=keys.auditor)):
            from_standby, from_primary = read(on_standby), read(on_primary)
            assert from_standby.code == 0, from_standby
            assert (from_standby.body, from_standby.position) == (from_primary.body, from_primary.position)
    finally:
        on_primary.close()
        on_standby.close()


def test_a_server_reading_a_standby_shows_each_client_its_own_writes_without_being_asked(pair: Pair) -> None:
    keys = pair.keys
    for n in range(20):
        job_id = f"own-{uuid.uuid4().hex[:10]}"
        ok(upsert(pair.standby, keys.writer, {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
        ok(pair.standby.call("GET", f"/v1/jobs/{job_id}", key=keys.reader))
        history = ok(pair.standby.call("GET", f"/v1/jobs/{job_id}/events", key=keys.auditor)).body["events"]
        assert [event["type"] for event in history] == ["Created"], n


def test_a_position_beyond_the_log_is_out_of_range_at_once_on_a_standby_too(pair: Pair) -> None:
    started = time.monotonic()
    reply = pair.standby.call("GET", "/v1/jobs/anything?minPosition=999999999", key=pair.keys.reader)
    assert (reply.status, reply.body["code"]) == (400, 11), reply.body
    assert time.monotonic() - started < 2


def test_readiness_metrics_and_status_say_which_server_answers_reads_and_how_far_the_standby_trails(
        pair: Pair) -> None:
    assert ok(pair.standby.call("GET", "/readyz")).body["reads"].startswith("standby (127.0.0.1:")
    assert ok(pair.primary.call("GET", "/readyz")).body["reads"] == "primary"
    assert metric(pair.standby, 'jobstore_read_server{server="standby"}') == 1
    assert metric(pair.primary, 'jobstore_read_server{server="primary"}') == 1
    text = ok(pair.standby.call("GET", "/metrics")).body
    assert re.search(r'^jobstore_standby_replay_lag_bytes\{address="127.0.0.1",standby="[^"]+",'
                     r'sync_state="async"\} \d', text, re.M), text
    assert re.search(r'^jobstore_standby_replay_lag_seconds\{address="127.0.0.1",standby="[^"]+",'
                     r'sync_state="async"\} \d', text, re.M), text
    status = pair.standby.cli("status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^reads: standby \(127\.0\.0\.1:\d+\)$", status.stdout, re.M), status.stdout
    assert re.search(r"^\S+ +127\.0\.0\.1 +streaming +async +\d+ +\d+\.\d{3}$", status.stdout, re.M), \
        status.stdout


def metric(server: Server, name: str) -> float:
    text = ok(server.call("GET", "/metrics")).body
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found, f"{name} not in:\n{text}"
    return float(found.group(1))


# --- a standby that stops, on a cluster of the test's own


def reads_work(server: Server, key: str, job_id: str) -> None:
    for path in (f"/v1/jobs/{job_id}", "/v1/jobs?pageSize=5", f"/v1/jobs/{job_id}?version=1",
                 f"/v1/jobs/{job_id}/events"):
        ok(server.call("GET", path, key=key))


def test_while_the_standby_is_stopped_reads_go_to_the_primary_without_an_error_and_come_back_after(
        cluster: PrivateCluster, tmp_path: Path) -> None:
    server = Server(tmp_path, cluster.primary_url, extra_env={"JOBSTORE_READ_DATABASE_URL": cluster.read_url}).start()
    try:
        key = server.key("admin")
        job_id = "stopping"
        at = position(upsert(server, key, {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
        reads_work(server, key, job_id)
        assert metric(server, 'jobstore_read_server{server="standby"}') == 1

        cluster.stop_standby()
        reads_work(server, key, job_id)  # the first read finds the standby gone: answered by the primary
        ok(server.call("GET", f"/v1/jobs/{job_id}?minPosition={at}", key=key))
        assert ok(server.call("GET", "/readyz")).body["reads"].startswith("primary (the standby")
        assert metric(server, 'jobstore_read_server{server="primary"}') == 1
        later = position(upsert(server, key, {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True}))
        assert ok(server.call("GET", f"/v1/jobs/{job_id}?minPosition={later}", key=key)).body["job"]["status"] == \
            "JOB_STATUS_PENDING"
        on_primary = metric(server, 'jobstore_read_statements_total{server="primary"}')
        assert on_primary > 0

        cluster.start_standby()
        back = server.eventually("/readyz", key, lambda r: str(r.body.get("reads", "")).startswith("standby"))
        assert back.body["reads"].startswith("standby"), back.body
        on_standby = metric(server, 'jobstore_read_statements_total{server="standby"}')
        assert ok(server.call("GET", f"/v1/jobs/{job_id}?minPosition={later}", key=key)).body["job"]["status"] == \
            "JOB_STATUS_PENDING"
        reads_work(server, key, job_id)  # time travel too: the event store's pool on the standby was renewed
        assert metric(server, 'jobstore_read_statements_total{server="standby"}') > on_standby
        assert metric(server, 'jobstore_read_statements_total{server="primary"}') == on_primary
    finally:
        server.stop()


def test_a_server_started_while_the_standby_is_away_reads_the_primary_and_goes_to_the_standby_once_it_is_back(
        cluster: PrivateCluster, tmp_path: Path) -> None:
    """It used to refuse to start: the event store on the standby (time travel) was opened at start."""
    cluster.stop_standby()
    server = Server(tmp_path, cluster.primary_url, extra_env={"JOBSTORE_READ_DATABASE_URL": cluster.read_url}).start()
    try:
        ready = ok(server.call("GET", "/readyz")).body
        assert ready["reads"].startswith("primary (the standby"), ready
        key = server.key("admin")
        job_id = "started-without-standby"
        ok(upsert(server, key, {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
        reads_work(server, key, job_id)
        assert metric(server, 'jobstore_read_statements_total{server="primary"}') > 0

        cluster.start_standby()
        back = server.eventually("/readyz", key, lambda r: str(r.body.get("reads", "")).startswith("standby"))
        assert back.body["reads"].startswith("standby"), back.body
        later = position(upsert(server, key, {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True}))
        on_primary = metric(server, 'jobstore_read_statements_total{server="primary"}')
        assert ok(server.call("GET", f"/v1/jobs/{job_id}?minPosition={later}", key=key)).body["job"]["status"] == \
            "JOB_STATUS_PENDING"
        reads_work(server, key, job_id)  # time travel too: the event store on the standby opens now
        assert ok(server.call("GET", f"/v1/jobs/{job_id}?version=2", key=key)).body["job"]["status"] == \
            "JOB_STATUS_PENDING"
        assert metric(server, 'jobstore_read_statements_total{server="primary"}') == on_primary
        assert metric(server, 'jobstore_read_server{server="standby"}') == 1
    finally:
        server.stop()


def test_with_fallback_none_reads_fail_unavailable_while_no_standby_answers(cluster: PrivateCluster,
                                                                            tmp_path: Path) -> None:
    server = Server(tmp_path, cluster.primary_url, extra_env={"JOBSTORE_READ_DATABASE_URL": cluster.read_url,
                                                              "JOBSTORE_READ_FALLBACK": "none"}).start()
    try:
        key = server.key("admin")
        ok(upsert(server, key, {"jobId": "strict", "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
        ok(server.call("GET", "/v1/jobs/strict", key=key))
        cluster.stop_standby()
        refused = server.call("GET", "/v1/jobs/strict", key=key)
        assert (refused.status, refused.body["code"]) == (503, 14), refused.body
        assert "JOBSTORE_READ_FALLBACK=none" in refused.body["message"]
        not_ready = server.call("GET", "/readyz")
        assert not_ready.status == 503 and "no standby answers reads" in not_ready.body["message"]
        ok(upsert(server, key, {"jobId": "strict", "status": "JOB_STATUS_PENDING"}, {"status": True}))  # writes go on
    finally:
        server.stop()
