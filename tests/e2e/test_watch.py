"""GET /v1/jobs:watch against a real `jobstore serve`, on both stores: each change of the jobs a watch follows,
after its position, in log order, each once; leaves; bookmarks; list-then-watch; resuming with Last-Event-ID,
across a restart too; and a client that does not read is cut off without holding up the others."""
from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, unique
from tests.e2e.conftest import Keys, store_location
from tests.e2e.server import Reply, Server, ok, upsert
from tests.e2e.sse import Ended, EventStream, SseEvent

STRESS, IMAGE = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_IMAGE_BUILDER"
PENDING, RUNNING, FAILED = "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_FAILED"
BUFFER = 64
WATCH_ENV = {"JOBSTORE_WATCH_HEARTBEAT_SECONDS": "0.3", "JOBSTORE_WATCH_BUFFER": str(BUFFER)}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The conftest's server, with short heartbeats and a small buffer (its `keys` fixture uses this one)."""
    with store_location(request.param) as (url, schema):
        running = Server(Path(tmp_path_factory.mktemp("watch")), url, schema, extra_env=WATCH_ENV).start()
        yield running
        running.stop()


def position(reply: Reply) -> int:
    ok(reply)
    return int(reply.headers["x-jobstore-position"])


def create(server: Server, key: str, job_id: str, project: str = "p", **fields: Any) -> int:
    job = {"jobId": job_id, "jobType": STRESS, "jobData": {"stress": {"projectId": {"uuid": project}}}, **fields}
    return position(upsert(server, key, job))


def move(server: Server, key: str, job_id: str, status: str) -> int:
    return position(upsert(server, key, {"jobId": job_id, "status": status}, {"status": True}))


def watch(server: Server, key: str | None, *query: tuple[str, str], last_event_id: str | None = None,
          receive_buffer: int | None = None, reading: bool = True) -> EventStream:
    return EventStream(server.base, key, list(query), last_event_id, receive_buffer, reading)


def started(stream: EventStream) -> int:
    """The watch's first event: a bookmark of where it starts, as its X-Jobstore-Position says."""
    assert stream.status == 200, stream.body
    first = stream.next()
    assert first.kind == "bookmark" and first.position == int(stream.headers["x-jobstore-position"])
    assert first.data == {"position": first.position}
    return first.position


def shown(events: list[SseEvent]) -> list[tuple[str, int, str, str]]:
    return [(event.kind, event.position, event.job["jobId"], event.job["status"]) for event in events]


def comparable(job: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in job.items() if name != "runningTimeSecs"}


def test_a_watch_sends_each_change_of_a_matching_job_then_its_leave(server: Server, keys: Keys) -> None:
    project, job_id = unique("project"), unique("job")
    statuses = [("firstPageQuery.selectedStatuses", PENDING), ("firstPageQuery.selectedStatuses", RUNNING)]
    with watch(server, keys.reader, ("projectId", project), *statuses, ("view", "JOB_VIEW_FULL")) as stream:
        start = started(stream)
        created = create(server, keys.writer, job_id, project)  # REQUESTED: not chosen
        create(server, keys.writer, unique("elsewhere"), unique("project"), status=PENDING)
        pending = move(server, keys.writer, job_id, PENDING)
        running = move(server, keys.writer, job_id, RUNNING)
        failure = {"errorMsg": "gone", "terminationReason": "TERMINATION_REASON_GENERIC_ERROR"}
        failed = position(server.call("POST", f"/v1/jobs/{job_id}:fail", failure, key=keys.writer))
        events = stream.changes_until(failed)
        assert start < created < pending < running < failed
        assert shown(events) == [("message", pending, job_id, PENDING), ("message", running, job_id, RUNNING),
                                 ("leave", failed, job_id, FAILED)]
        assert all(event.data["position"] == event.position for event in events)
        now = ok(server.call("GET", f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL", key=keys.reader)).body["job"]
        assert comparable(events[-1].job) == comparable(now) and now["errorMsg"] == "gone"


def test_a_list_then_a_watch_from_its_position_misses_nothing_and_repeats_nothing(server: Server,
                                                                                  keys: Keys) -> None:
    agent = unique("agent")
    jobs = [unique("listed") for _ in range(3)]
    for job_id in jobs:
        create(server, keys.writer, job_id, agentId={"uuid": agent})
    listed = server.call("GET", f"/v1/jobs?agentId.uuid={agent}", key=keys.reader)
    assert {job["jobId"] for job in ok(listed).body["jobs"]} == set(jobs)
    listed_at = position(listed)
    between = move(server, keys.writer, jobs[0], PENDING)  # after the list, before the watch
    with watch(server, keys.reader, ("agentId.uuid", agent), ("afterPosition", str(listed_at))) as stream:
        assert started(stream) == listed_at
        later = unique("later")
        created = create(server, keys.writer, later, agentId={"uuid": agent})
        events = stream.changes_until(created)
        assert [(event.position, event.job["jobId"]) for event in events] == [(between, jobs[0]), (created, later)]


def test_a_watch_resumes_after_its_last_event_id_even_across_a_restart(server: Server, keys: Keys,
                                                                      tmp_path: Path) -> None:
    job_id = unique("resumed")
    with watch(server, keys.reader, ("jobId", job_id)) as stream:
        started(stream)
        first = create(server, keys.writer, job_id)
        second = move(server, keys.writer, job_id, PENDING)
        assert [event.position for event in stream.changes_until(second)] == [first, second]
    third = move(server, keys.writer, job_id, RUNNING)
    with watch(server, keys.reader, ("jobId", job_id), ("afterPosition", "0"), last_event_id=str(second)) as again:
        assert started(again) == second  # Last-Event-ID wins over afterPosition, as an EventSource resends both
        assert [event.position for event in again.changes_until(third)] == [third]


def test_a_watch_killed_with_its_server_resumes_on_the_next_server_with_nothing_missed(
        keys: Keys, server: Server, tmp_path: Path) -> None:
    backend = "postgres" if "JOBSTORE_DATABASE_URL" in server.env else "sqlite"
    with store_location(backend) as (url, schema):
        own = Server(tmp_path / "restarted", url, schema, extra_env=WATCH_ENV)
        writer = own.key("writer")
        own.start()
        try:
            job_id = unique("survivor")
            with watch(own, writer, ("jobId", job_id)) as stream:
                started(stream)
                seen = stream.changes_until(create(own, writer, job_id))
                assert own.process is not None
                own.process.send_signal(signal.SIGKILL)
                own.process.wait()
                with pytest.raises(Ended):
                    stream.until(lambda _: False, timeout=10)
            own.start()
            missed = [move(own, writer, job_id, status) for status in (PENDING, RUNNING)]
            with watch(own, writer, ("jobId", job_id), last_event_id=seen[-1].id) as resumed:
                started(resumed)
                assert [event.position for event in resumed.changes_until(missed[-1])] == missed
        finally:
            own.stop()


def test_a_replay_from_an_old_position_sends_what_a_live_watch_saw(server: Server, keys: Keys) -> None:
    project = unique("project")
    with watch(server, keys.reader, ("projectId", project), ("view", "JOB_VIEW_FULL")) as live:
        start = started(live)
        jobs = [unique("replayed") for _ in range(3)]
        for job_id in jobs:
            create(server, keys.writer, job_id, project)
        for job_id in jobs[:2]:
            move(server, keys.writer, job_id, PENDING)
        last = move(server, keys.writer, jobs[0], RUNNING)
        seen_live = live.changes_until(last)
    with watch(server, keys.reader, ("projectId", project), ("view", "JOB_VIEW_FULL"),
               ("afterPosition", str(start))) as replay:
        assert started(replay) == start
        replayed = replay.changes_until(last)
    assert len(replayed) == 6
    assert [(e.kind, e.position, comparable(e.job)) for e in replayed] == \
        [(e.kind, e.position, comparable(e.job)) for e in seen_live]


def test_a_quiet_watch_sends_bookmarks_of_how_far_the_log_was_read(server: Server, keys: Keys) -> None:
    with watch(server, keys.reader, ("jobId", unique("never-written"))) as stream:
        start = started(stream)
        elsewhere = create(server, keys.writer, unique("unrelated"))
        bookmarks = stream.until(lambda event: event.kind == "bookmark" and event.position >= elsewhere, timeout=5)
        assert all(event.kind == "bookmark" for event in bookmarks) and start < elsewhere


def test_a_watch_refuses_what_a_list_refuses(server: Server, keys: Keys) -> None:
    head = create(server, keys.writer, unique("head"))
    cases = [
        (None, [], None, 401, 16, "rime-api-key"),
        (keys.reader, [("firstPageQuery.selectedStatuses", "JOB_STATUS_NOPE")], None, 400, 3,
         "firstPageQuery.selectedStatuses"),
        (keys.reader, [("view", "JOB_VIEW_NOPE")], None, 400, 3, "view"),
        (keys.reader, [("jobId", "a b")], None, 400, 3, "jobId"),
        (keys.reader, [("afterPosition", "-1")], None, 400, 3, "afterPosition"),
        (keys.reader, [("afterPosition", "x")], None, 400, 3, "afterPosition"),
        (keys.reader, [("afterPosition", str(head + 1000))], None, 400, 11, "afterPosition"),
        (keys.reader, [], "not-a-position", 400, 3, "Last-Event-ID"),
    ]
    for key, query, last_event_id, status, code, named in cases:
        with watch(server, key, *query, last_event_id=last_event_id) as stream:
            assert (stream.status, stream.body["code"]) == (status, code), (query, stream.body)
            assert named in stream.body["message"], stream.body


def test_a_client_that_does_not_read_is_cut_off_and_the_others_are_not_held_up(server: Server, keys: Keys) -> None:
    job_id = unique("busy")

    def progress(step: int) -> dict[str, Any]:  # about 20 kB: the never-reading client's socket fills soon
        return {"testRun": {"testRunId": "r", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
            {"type": f"batch-{step}-{n}-{'x' * 120}", "status": "TEST_TASK_STATUS_RUNNING"} for n in range(150)]}}

    with watch(server, keys.reader, ("jobId", job_id), ("view", "JOB_VIEW_FULL"), receive_buffer=4096,
               reading=False) as stalled, \
            watch(server, keys.reader, ("jobId", job_id), ("view", "JOB_VIEW_FULL")) as reading:
        started(reading)
        last = create(server, keys.writer, job_id)
        count = 1
        for step in range(600):
            last = position(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"stress": {
                "progress": progress(step)}}}, {"jobData": {"stress": {"progress": True}}}))
            count += 1
        assert len(reading.changes_until(last, timeout=60)) == count
        stalled.read()
        ended = stalled.until(lambda event: event.kind == "error", timeout=60)
        cut = ended[-1].data
        assert cut["code"] == 8 and f"fell {BUFFER} changes behind" in cut["message"], cut
        assert len(ended) < count  # it was sent less than everything before being cut off
        with pytest.raises(Ended):
            stalled.next(timeout=10)
        metrics = server.call("GET", "/metrics").body
        assert float(re.findall(r"^jobstore_watches_cut_off_total (\S+)$", metrics, re.MULTILINE)[0]) >= 1
        assert float(re.findall(r"^jobstore_watches_open (\S+)$", metrics, re.MULTILINE)[0]) >= 1  # `reading`


def test_a_server_stopping_ends_each_watch_with_a_last_bookmark(keys: Keys, server: Server, tmp_path: Path) -> None:
    backend = "postgres" if "JOBSTORE_DATABASE_URL" in server.env else "sqlite"
    with store_location(backend) as (url, schema):
        own = Server(tmp_path / "stopping", url, schema, extra_env={"JOBSTORE_WATCH_HEARTBEAT_SECONDS": "60"})
        writer = own.key("writer")
        own.start()
        try:
            with watch(own, writer) as stream:
                started(stream)
                written = create(own, writer, unique("last"))
                stream.changes_until(written)
                own.stop()
                last = stream.next()
                assert last.kind == "bookmark" and last.position >= written
                with pytest.raises(Ended):
                    stream.next()
            assert own.process is not None and own.process.returncode == 0
        finally:
            own.stop()


# --- over gRPC: jobstore.v1.Watch/WatchJobs


def grpc_watch(server: Server, key: str, request: Any) -> Iterator[Any]:
    import grpc

    from jobstore.adapters.grpc.protos import jobstore_v1_pb2_grpc as v1_grpc

    channel = grpc.insecure_channel(server.grpc_target)
    try:
        yield from v1_grpc.WatchStub(channel).WatchJobs(request, metadata=(("rime-api-key", key),), timeout=20)
    finally:
        channel.close()


def test_a_grpc_watch_sends_what_the_sse_watch_sends(server: Server, keys: Keys) -> None:
    from google.protobuf import json_format

    from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
    from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime

    project, job_id = unique("project"), unique("both")
    with watch(server, keys.reader, ("projectId", project), ("view", "JOB_VIEW_FULL")) as stream:
        start = started(stream)
        create(server, keys.writer, job_id, project)
        move(server, keys.writer, job_id, PENDING)
        last = move(server, keys.writer, job_id, RUNNING)
        over_sse = stream.changes_until(last)
    request = v1.WatchJobsRequest(project_id=rime.UUID(uuid=project), view=rime.JOB_VIEW_FULL, after_position=start)
    received = []
    for answer in grpc_watch(server, keys.reader, request):
        received.append(answer)
        if answer.position >= last and answer.kind != v1.WatchJobsResponse.KIND_BOOKMARK:
            break
    assert received[0].kind == v1.WatchJobsResponse.KIND_BOOKMARK and received[0].position == start
    changes = [answer for answer in received if answer.kind == v1.WatchJobsResponse.KIND_CHANGE]
    assert [answer.position for answer in changes] == [event.position for event in over_sse]
    for answer, event in zip(changes, over_sse, strict=True):
        job = json_format.MessageToDict(answer.job)
        assert job["status"] == event.job["status"] and job["jobId"] == job_id


def test_a_grpc_watch_refuses_as_the_sse_watch_does(server: Server, keys: Keys) -> None:
    import grpc

    from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1

    head = create(server, keys.writer, unique("head"))
    for request, code in ((v1.WatchJobsRequest(after_position=head + 1000), grpc.StatusCode.OUT_OF_RANGE),
                          (v1.WatchJobsRequest(after_position=-1), grpc.StatusCode.INVALID_ARGUMENT),
                          (v1.WatchJobsRequest(job_id="a b"), grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as refused:
            next(grpc_watch(server, keys.reader, request))
        assert refused.value.code() == code, refused.value.details()
