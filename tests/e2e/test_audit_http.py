"""The audit extension over HTTP: every event with its time, author, request id and hash chain; the global feed;
a job as it was at a version or a moment; and who may ask.

The hash chain is recomputed here from the encoding that domain/chain.py documents (sorted-key compact JSON,
UTF-8, non-ASCII as itself), with hashlib and json only, so that the test checks the documentation and not the
product's own code. Time travel is checked against the history folded here (top-level keys replace, `jobData`
merges per kind then per field).
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok

GENESIS = "0" * 64
RECORDED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
STRESS, IMAGE = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_IMAGE_BUILDER"
BASIC, FULL = "JOB_VIEW_BASIC", "JOB_VIEW_FULL"
TERMINAL = {"JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"}
EVENT_FIELDS = {"version", "type", "recordedAt", "actor", "requestId", "serverRequestId", "data", "hash",
                "prevHash", "position", "jobId"}
SERVER_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
STORY_TYPES = ["Created", "Upserted", "Upserted", "Upserted", "Upserted", "CancellationRequested",
               "CancellationFinalized"]
NON_ASCII_MESSAGE = "échec du build ✓ 失败"


# --- helpers


def refused(reply: Reply, http_status: int, code: int) -> None:
    assert (reply.status, reply.body.get("code") if isinstance(reply.body, dict) else None) == (http_status, code), \
        (reply.status, reply.body)
    assert reply.body.get("message"), reply.body


def job_path(job_id: str) -> str:
    return "/v1/jobs/" + quote(job_id, safe="")


def history(server: Server, key: str, job_id: str) -> list[dict[str, Any]]:
    """The job's whole history, through every answer it takes (an answer holds at most 4 MiB)."""
    events: list[dict[str, Any]] = []
    while True:
        reply = ok(server.call("GET", f"{job_path(job_id)}/events?afterVersion={len(events)}", key=key))
        assert set(reply.body) <= {"events", "nextVersion"}, reply.body
        events += reply.body["events"]
        if "nextVersion" not in reply.body:
            return events
        assert reply.body["nextVersion"] == len(events)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def recomputed_hash(event: dict[str, Any]) -> str:
    """SHA-256 of the canonical record that domain/chain.py documents, built from the event as served."""
    record = {"actor": {"name": event["actor"]["name"], "role": event["actor"]["role"]}, "data": event["data"],
              "jobId": event["jobId"], "prevHash": event["prevHash"], "recordedAt": event["recordedAt"],
              "requestId": event["requestId"], "type": event["type"], "version": event["version"]}
    if "serverRequestId" in event:
        record["serverRequestId"] = event["serverRequestId"]
    encoded = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def fold(datas: list[dict[str, Any]]) -> dict[str, Any]:
    """A job's document after these events: top-level keys replace, jobData merges per kind then per field."""
    document: dict[str, Any] = {}
    for data in datas:
        for key, value in data.items():
            if key == "jobData":
                job_data = {kind: dict(fields) for kind, fields in document.get("jobData", {}).items()}
                for kind, fields in value.items():
                    job_data[kind] = {**job_data.get(kind, {}), **fields}
                document["jobData"] = job_data
            else:
                document[key] = copy.deepcopy(value)
    return document


def running_time_secs(document: dict[str, Any], moment: datetime) -> float:
    if "startTime" not in document:
        return 0.0
    start = parse_time(document["startTime"])
    end = parse_time(document["completionTime"]) if document["status"] in TERMINAL else moment
    return max(0.0, (end - start).total_seconds())


def as_read(document: dict[str, Any], view: str, moment: datetime) -> dict[str, Any]:
    """What GetJob in `view` shows of `document` when read at `moment`."""
    shown = copy.deepcopy(document)
    progress = shown.get("jobData", {}).get("stress", {}).get("progress")
    if view == BASIC:
        for fields in shown.get("jobData", {}).values():
            fields.pop("progress", None)
    elif progress is not None:
        batches = progress.get("testRun", {}).get("testBatches", [])
        done = sum(1 for b in batches if b.get("status") == "TEST_TASK_STATUS_COMPLETED")
        shown["jobProgressStr"] = f"{done} / {len(batches)} tests completed"
    shown["runningTimeSecs"] = running_time_secs(document, moment)
    return shown


def same_read(got: dict[str, Any], expected: dict[str, Any]) -> None:
    got, expected = dict(got), dict(expected)
    assert got.pop("runningTimeSecs") == pytest.approx(expected.pop("runningTimeSecs"), abs=1e-6)
    assert got == expected


# --- the story every test reads


@dataclass
class Write:
    reply: Reply
    before: datetime
    after: datetime
    sent_request_id: str | None
    actor: tuple[str, str]


@dataclass
class Story:
    job_id: str
    failed_job_id: str
    writes: list[Write] = field(default_factory=list)
    failed_writes: list[Write] = field(default_factory=list)


@dataclass
class Actors:
    writer: tuple[str, str]  # (key, name)
    admin: tuple[str, str]
    auditor: tuple[str, str]


@pytest.fixture(scope="module")
def actors(server: Server) -> Actors:
    made = {}
    for role in ("writer", "admin", "auditor"):
        name = unique(f"audit-{role}")
        made[role] = (server.key(role, name), name)
    return Actors(**made)


def write(server: Server, actor: tuple[str, str], role: str, method: str, path: str, body: Any = None,
          request_id: str | None = None) -> Write:
    before = datetime.now(UTC)
    reply = server.call(method, path, body, key=actor[0], headers={"X-Request-Id": request_id} if request_id else None)
    after = datetime.now(UTC)
    ok(reply)
    assert "x-jobstore-position" in reply.headers, f"{path} changed the job but gave no X-Jobstore-Position"
    return Write(reply, before, after, request_id, (actor[1], role))


@pytest.fixture(scope="module")
def story(server: Server, actors: Actors) -> Story:
    """A stress test job's whole life (7 events, one of them by an admin key), and an image build that failed."""
    job_id = unique("audit-jöb")  # a non-ASCII job id: the canonical encoding writes it as itself
    story = Story(job_id=job_id, failed_job_id=unique("audit-failed"))
    w, a = actors.writer, actors.admin
    project = {"uuid": unique("project")}
    batches = [{"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"},
               {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"}]
    progress = {"testRun": {"testRunId": "run-1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": batches}}
    done = copy.deepcopy(progress)
    done["testRun"]["testBatches"][1]["status"] = "TEST_TASK_STATUS_COMPLETED"
    mask_progress = {"jobData": {"stress": {"progress": True}}}
    steps: list[tuple[tuple[str, str], str, str, str, Any, str | None]] = [
        (w, "writer", "POST", "/v1/jobs:upsert", {"job": {
            "jobId": job_id, "jobType": STRESS, "jobData": {"stress": {"projectId": project, "testRunId": "run-1"}}}},
         unique("client-req")),
        (w, "writer", "POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"},
                                                   "writeMask": {"status": True}}, None),
        (a, "admin", "POST", "/v1/jobs:upsert", {
            "job": {"jobId": job_id, "status": "JOB_STATUS_RUNNING", "agentId": {"uuid": "agent-ü"}},
            "writeMask": {"status": True, "agentId": True}}, unique("client-req")),
        (w, "writer", "POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobData": {"stress": {
            "progress": progress}}}, "writeMask": mask_progress}, None),
        (w, "writer", "POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobData": {"stress": {
            "progress": done}}}, "writeMask": mask_progress}, unique("client-req")),
        (w, "writer", "POST", "/v1/jobs/cancel/" + quote(job_id, safe=""), None, None),
        (w, "writer", "POST", f"{job_path(job_id)}:finalizeCancellation", None, None),
    ]
    for actor, role, method, path, body, request_id in steps:
        story.writes.append(write(server, actor, role, method, path, body, request_id))
        time.sleep(0.002)  # distinct recordedAt for each event, so that asOf can name each one
    failed = story.failed_job_id
    story.failed_writes.append(write(server, w, "writer", "POST", "/v1/jobs:upsert",
                                     {"job": {"jobId": failed, "jobType": IMAGE}}, None))
    story.failed_writes.append(write(server, w, "writer", "POST", f"{job_path(failed)}:fail", {
        "terminationReason": "TERMINATION_REASON_OOMKILLED", "errorMsg": NON_ASCII_MESSAGE}, unique("client-req")))
    return story


# --- history: shape, chain, provenance


def test_a_jobs_history_lists_every_event_oldest_first_with_its_version_type_and_data(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    assert [e["version"] for e in events] == list(range(1, len(STORY_TYPES) + 1))
    assert [e["type"] for e in events] == STORY_TYPES
    for event in events:
        assert set(event) == EVENT_FIELDS, sorted(event)
        assert event["jobId"] == story.job_id
        assert RECORDED_AT.match(event["recordedAt"]), event["recordedAt"]
        assert HEX64.match(event["hash"]) and HEX64.match(event["prevHash"]), event
    created = events[0]["data"]
    assert created["jobId"] == story.job_id and created["jobType"] == STRESS
    assert created["status"] == "JOB_STATUS_REQUESTED" and created["cancellationRequested"] is False
    assert events[1]["data"] == {"status": "JOB_STATUS_PENDING"}
    assert events[2]["data"]["status"] == "JOB_STATUS_RUNNING" and "startTime" in events[2]["data"]
    assert events[2]["data"]["agentId"] == {"uuid": "agent-ü"}
    assert set(events[3]["data"]) == {"jobData"} and set(events[3]["data"]["jobData"]["stress"]) == {"progress"}
    assert events[5]["data"] == {"cancellationRequested": True}
    assert events[6]["data"]["status"] == "JOB_STATUS_CANCELLED" and "completionTime" in events[6]["data"]
    failed = history(server, keys.auditor, story.failed_job_id)
    assert [e["type"] for e in failed] == ["Created", "Failed"]
    assert failed[1]["data"]["errorMsg"] == NON_ASCII_MESSAGE
    assert failed[1]["data"]["terminationReason"] == "TERMINATION_REASON_OOMKILLED"


def test_each_events_position_is_the_one_its_write_reported_and_grows_with_the_version(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    assert [e["position"] for e in events] == [int(w.reply.headers["x-jobstore-position"]) for w in story.writes]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


@pytest.mark.parametrize("which", ["stress job with a non-ASCII id", "failed job with a non-ASCII message"])
def test_every_hash_recomputes_from_the_documented_encoding_and_links_to_the_event_before(
        server: Server, keys: Keys, story: Story, which: str) -> None:
    job_id = story.job_id if which.startswith("stress") else story.failed_job_id
    events = history(server, keys.auditor, job_id)
    assert events[0]["prevHash"] == GENESIS
    for before, event in pairwise(events):
        assert event["prevHash"] == before["hash"], f"version {event['version']} does not link to the one before"
    for event in events:
        assert recomputed_hash(event) == event["hash"], f"version {event['version']}: hash does not recompute"
    assert len({e["hash"] for e in events}) == len(events)


def test_recorded_at_is_the_utc_time_each_write_happened(server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    slack = timedelta(seconds=1)  # client and server share this machine's clock
    for event, w in zip(events, story.writes, strict=True):
        recorded = parse_time(event["recordedAt"])
        assert w.before - slack <= recorded <= w.after + slack, (event["version"], event["recordedAt"], w.before)
    times = [parse_time(e["recordedAt"]) for e in events]
    assert times == sorted(times)


def test_a_request_id_sent_by_the_client_is_echoed_and_recorded_on_its_event(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id) + history(server, keys.auditor, story.failed_job_id)
    sent = [(e, w) for e, w in zip(events, story.writes + story.failed_writes, strict=True) if w.sent_request_id]
    assert len(sent) == 4
    for event, w in sent:
        assert w.reply.headers.get("x-request-id") == w.sent_request_id
        assert event["requestId"] == w.sent_request_id


def test_a_write_without_a_request_id_gets_a_generated_one_returned_and_recorded(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    generated = [(e, w) for e, w in zip(events, story.writes, strict=True) if w.sent_request_id is None]
    assert len(generated) == 4
    for event, w in generated:
        returned = w.reply.headers.get("x-request-id")
        assert returned, f"version {event['version']}: no X-Request-Id in the response"
        assert event["requestId"] == returned
    assert len({e["requestId"] for e in events}) == len(events), "request ids repeat across requests"


def test_every_event_records_the_id_the_server_gave_its_request_beside_the_clients(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id) + history(server, keys.auditor, story.failed_job_id)
    for event, w in zip(events, story.writes + story.failed_writes, strict=True):
        assert SERVER_REQUEST_ID.match(event["serverRequestId"]), event
        assert event["serverRequestId"] == w.reply.headers.get("x-jobstore-request-id")
        if w.sent_request_id:
            assert event["serverRequestId"] != event["requestId"] == w.sent_request_id
    assert len({e["serverRequestId"] for e in events}) == len(events), "server request ids repeat"


def test_a_request_id_reused_by_another_key_is_told_apart_by_the_servers_id_in_history_and_feed(
        server: Server, keys: Keys, actors: Actors) -> None:
    job_id, reused = unique("audit-reused"), unique("admins-request")
    first = write(server, actors.admin, "admin", "POST", "/v1/jobs:upsert",
                  {"job": {"jobId": job_id, "jobType": IMAGE}}, reused)
    write(server, actors.writer, "writer", "POST", "/v1/jobs:upsert",
          {"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, "writeMask": {"status": True}}, reused)
    events = history(server, keys.auditor, job_id)
    after = int(first.reply.headers["x-jobstore-position"]) - 1
    fed = [e for e in feed_from(server, keys.auditor, after) if e["jobId"] == job_id]
    for shown in (events, fed):
        assert [(e["actor"]["name"], e["requestId"]) for e in shown] == [(actors.admin[1], reused),
                                                                         (actors.writer[1], reused)]
        assert len({e["serverRequestId"] for e in shown}) == 2, shown
    assert fed == events


@pytest.mark.parametrize("request_id", ['x","actor":{"name":"admin"}', "tab\there", "c1\x85byte", "a space",
                                        "nön-ascii", "x" * 129], ids=["json", "tab", "c1", "space", "non-ascii",
                                                                      "129-chars"])
def test_a_request_id_that_is_not_a_plain_token_is_invalid_argument_and_records_nothing(
        server: Server, keys: Keys, request_id: str) -> None:
    job_id = unique("audit-bad-request-id")
    reply = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=keys.writer,
                        headers={"X-Request-Id": request_id})
    refused(reply, 400, 3)
    assert "X-Request-Id" in reply.body["message"], reply.body
    assert reply.headers.get("x-request-id") == reply.headers.get("x-jobstore-request-id"), \
        "a refused request id is replaced by the server's, not echoed"
    refused(server.call("GET", job_path(job_id) + "/events", key=keys.auditor), 404, 5)


def test_the_longest_plain_request_id_is_recorded_as_given(server: Server, keys: Keys, actors: Actors) -> None:
    longest = ("AZaz09._~:/+=-" * 10)[:128]
    job_id = unique("audit-long-request-id")
    written = write(server, actors.writer, "writer", "POST", "/v1/jobs:upsert",
                    {"job": {"jobId": job_id, "jobType": IMAGE}}, longest)
    assert written.reply.headers.get("x-request-id") == longest
    [event] = history(server, keys.auditor, job_id)
    assert event["requestId"] == longest and recomputed_hash(event) == event["hash"]


def test_the_actor_is_the_name_and_role_of_the_api_key_that_wrote(
        server: Server, keys: Keys, story: Story, actors: Actors) -> None:
    events = history(server, keys.auditor, story.job_id)
    assert [(e["actor"]["name"], e["actor"]["role"]) for e in events] == [w.actor for w in story.writes]
    assert events[2]["actor"] == {"name": actors.admin[1], "role": "admin"}
    assert events[0]["actor"] == {"name": actors.writer[1], "role": "writer"}


def test_writes_that_change_nothing_or_are_refused_append_no_event(
        server: Server, keys: Keys, actors: Actors) -> None:
    job_id = unique("audit-quiet")
    ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=actors.writer[0]))
    same = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": "JOB_STATUS_REQUESTED"},
                                                   "writeMask": {"status": True}}, key=actors.writer[0])
    ok(same)
    assert "x-jobstore-position" not in same.headers
    illegal = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": "JOB_STATUS_SUCCEEDED"},
                                                      "writeMask": {"status": True}}, key=actors.writer[0])
    refused(illegal, 400, 9)
    assert [e["type"] for e in history(server, keys.auditor, job_id)] == ["Created"]


def test_history_of_a_job_that_never_existed_is_not_found(server: Server, keys: Keys) -> None:
    refused(server.call("GET", job_path(unique("audit-ghost")) + "/events", key=keys.auditor), 404, 5)


# --- the global feed


def test_a_long_history_and_the_feed_come_in_answers_of_at_most_4_mib(server: Server, keys: Keys) -> None:
    job_id = unique("long-history")
    ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST"}},
                   key=keys.writer))
    for n in range(5):  # about 0.9 MB each
        ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobData": {"continuousInc": {
            "ctTestRunIds": [f"{n}-{i:06d}".ljust(80, "x") for i in range(10_000)]}}},
            "writeMask": {"jobData": {"continuousInc": {"ctTestRunIds": True}}}}, key=keys.writer))
    versions, after, answers = [], 0, 0
    while True:
        reply = ok(server.call("GET", f"{job_path(job_id)}/events?afterVersion={after}", key=keys.auditor))
        assert int(reply.headers["content-length"]) <= 4 * 1024 * 1024
        versions += [event["version"] for event in reply.body["events"]]
        answers += 1
        if "nextVersion" not in reply.body:
            break
        after = reply.body["nextVersion"]
        assert after == versions[-1]
    assert versions == list(range(1, 7)) and answers >= 2
    first = reply.body["events"][-1]["position"] - 6
    feed = ok(server.call("GET", f"/v1/events?afterPosition={first}&limit=1000", key=keys.auditor))
    assert int(feed.headers["content-length"]) <= 4 * 1024 * 1024
    assert 1 <= len(feed.body["events"]) < 6 and feed.body["nextPosition"] == feed.body["events"][-1]["position"]


def test_the_global_feed_pages_through_every_event_once_in_commit_order(
        server: Server, keys: Keys, story: Story) -> None:
    seen: list[dict[str, Any]] = []
    after = 0
    for _ in range(10_000):
        reply = ok(server.call("GET", f"/v1/events?afterPosition={after}&limit=7", key=keys.auditor))
        events = reply.body["events"]
        assert len(events) <= 7
        if not events:
            assert reply.body["nextPosition"] == after
            break
        assert reply.body["nextPosition"] == events[-1]["position"]
        assert events[0]["position"] > after
        seen.extend(events)
        after = reply.body["nextPosition"]
    else:
        pytest.fail("the feed never ended")
    positions = [e["position"] for e in seen]
    assert all(a < b for a, b in pairwise(positions)), "positions do not strictly increase"
    pairs = [(e["jobId"], e["version"]) for e in seen]
    assert len(set(pairs)) == len(pairs), "an event appears twice in the feed"
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in seen:
        by_job.setdefault(event["jobId"], []).append(event)
    assert story.job_id in by_job and story.failed_job_id in by_job
    for job_id, events in by_job.items():
        assert events == history(server, keys.auditor, job_id), f"feed and history differ for {job_id!r}"
    one_page = ok(server.call("GET", "/v1/events?afterPosition=0&limit=1000", key=keys.auditor)).body["events"]
    assert one_page and one_page == seen[:len(one_page)]  # up to 1,000 events, fewer when they pass 4 MiB


def feed_from(server: Server, auditor: str, after: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        page = ok(server.call("GET", f"/v1/events?afterPosition={after}&limit=1000", key=auditor)).body
        if not page["events"]:
            return events
        events.extend(page["events"])
        after = page["nextPosition"]


def test_a_reader_tailing_the_feed_during_concurrent_writes_misses_no_event_and_sees_none_twice(
        server: Server, keys: Keys, actors: Actors) -> None:
    head = ([0] + [e["position"] for e in feed_from(server, keys.auditor, 0)])[-1]
    stop = threading.Event()
    tailed: list[dict[str, Any]] = []
    problems: list[Exception] = []

    def tail() -> None:
        after = head
        try:
            while True:
                finished = stop.is_set()  # every write has been answered: one more pass reads them all
                page = ok(server.call("GET", f"/v1/events?afterPosition={after}&limit=50", key=keys.auditor)).body
                tailed.extend(page["events"])
                after = page["nextPosition"]
                if finished and not page["events"]:
                    return
        except Exception as error:  # noqa: BLE001 - reported by the test thread below
            problems.append(error)

    def write_many(n: int) -> None:
        job_id = unique(f"audit-tail-{n}")
        ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=actors.writer[0]))
        for i in range(14):
            ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "agentId": {"uuid": f"a-{i}"}},
                                                       "writeMask": {"agentId": True}}, key=actors.writer[0]))

    tailer = threading.Thread(target=tail)
    tailer.start()
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write_many, range(6)))
    stop.set()
    tailer.join(30)
    assert not tailer.is_alive() and not problems, problems
    everything = feed_from(server, keys.auditor, head)
    assert len(everything) >= 6 * 15
    assert [(e["position"], e["jobId"], e["version"]) for e in tailed] == \
        [(e["position"], e["jobId"], e["version"]) for e in everything]


@pytest.mark.parametrize("call", ["forbidden history", "unknown job history", "bad feed limit"])
def test_error_responses_of_the_audit_routes_carry_the_request_id_too(
        server: Server, keys: Keys, story: Story, call: str) -> None:
    sent = unique("client-req")
    path, key = {"forbidden history": (f"{job_path(story.job_id)}/events", keys.reader),
                 "unknown job history": (f"{job_path(unique('audit-ghost'))}/events", keys.auditor),
                 "bad feed limit": ("/v1/events?limit=0", keys.auditor)}[call]
    reply = server.call("GET", path, key=key, headers={"X-Request-Id": sent})
    assert reply.status >= 400
    assert reply.headers.get("x-request-id") == sent


def test_the_global_feed_starts_after_the_position_it_is_given(server: Server, keys: Keys, story: Story) -> None:
    positions = [int(w.reply.headers["x-jobstore-position"]) for w in story.writes]
    reply = ok(server.call("GET", f"/v1/events?afterPosition={positions[2]}&limit=2", key=keys.auditor))
    assert [e["position"] for e in reply.body["events"]] == positions[3:5]
    assert reply.body["nextPosition"] == positions[4]


def test_the_global_feed_past_its_end_is_empty_and_keeps_its_position(server: Server, keys: Keys) -> None:
    last = ok(server.call("GET", "/v1/events?afterPosition=0&limit=1000", key=keys.auditor)).body
    far = 10**9
    reply = ok(server.call("GET", f"/v1/events?afterPosition={far}&limit=5", key=keys.auditor))
    assert reply.body == {"events": [], "nextPosition": far}
    assert last["events"], "the feed is empty although events were written"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=-1", "afterPosition=-1&limit=10"])
def test_the_global_feed_refuses_a_limit_outside_1_to_1000_or_a_negative_position(
        server: Server, keys: Keys, query: str) -> None:
    refused(server.call("GET", f"/v1/events?{query}", key=keys.auditor), 400, 3)


@pytest.mark.parametrize("limit", [1, 1000])
def test_the_global_feed_accepts_the_limits_1_and_1000(server: Server, keys: Keys, story: Story, limit: int) -> None:
    reply = ok(server.call("GET", f"/v1/events?afterPosition=0&limit={limit}", key=keys.auditor))
    assert 1 <= len(reply.body["events"]) <= limit


# --- time travel


@pytest.mark.parametrize("view", [BASIC, FULL])
def test_a_job_read_at_each_version_is_its_history_folded_up_to_that_version(
        server: Server, keys: Keys, story: Story, view: str) -> None:
    events = history(server, keys.auditor, story.job_id)
    for n in range(1, len(events) + 1):
        reply = ok(server.call("GET", f"{job_path(story.job_id)}?version={n}&view={view}", key=keys.auditor))
        expected = as_read(fold([e["data"] for e in events[:n]]), view, parse_time(events[n - 1]["recordedAt"]))
        same_read(reply.body["job"], expected)


@pytest.mark.parametrize("view", [BASIC, FULL])
def test_a_job_read_as_of_each_events_recorded_time_is_its_history_folded_up_to_that_event(
        server: Server, keys: Keys, story: Story, view: str) -> None:
    events = history(server, keys.auditor, story.job_id)
    for n, event in enumerate(events, start=1):
        as_of = quote(event["recordedAt"], safe="")
        reply = ok(server.call("GET", f"{job_path(story.job_id)}?asOf={as_of}&view={view}", key=keys.admin))
        expected = as_read(fold([e["data"] for e in events[:n]]), view, parse_time(event["recordedAt"]))
        same_read(reply.body["job"], expected)


def test_a_job_read_between_two_events_shows_the_earlier_and_after_the_last_shows_the_last(
        server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    for n in (2, 3, 4):  # PENDING, RUNNING, progress reported: runningTimeSecs grows with the moment asked
        first, second = parse_time(events[n - 1]["recordedAt"]), parse_time(events[n]["recordedAt"])
        between = first + (second - first) / 2
        reply = ok(server.call("GET", f"{job_path(story.job_id)}?asOf={rfc3339(between)}&view={FULL}",
                               key=keys.auditor))
        same_read(reply.body["job"], as_read(fold([e["data"] for e in events[:n]]), FULL, between))
    later = datetime.now(UTC) + timedelta(days=365)
    reply = ok(server.call("GET", f"{job_path(story.job_id)}?asOf={rfc3339(later)}", key=keys.auditor))
    same_read(reply.body["job"], as_read(fold([e["data"] for e in events]), BASIC, later))
    assert reply.body["job"]["status"] == "JOB_STATUS_CANCELLED"


def test_as_of_with_a_zone_offset_means_the_same_instant(server: Server, keys: Keys, story: Story) -> None:
    events = history(server, keys.auditor, story.job_id)
    moment = parse_time(events[3]["recordedAt"])
    offset = moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
    assert "+05:30" in offset
    with_offset = ok(server.call("GET", f"{job_path(story.job_id)}?asOf={quote(offset, safe='')}", key=keys.auditor))
    in_utc = ok(server.call("GET", f"{job_path(story.job_id)}?asOf={events[3]['recordedAt']}", key=keys.auditor))
    assert with_offset.body == in_utc.body
    same_read(in_utc.body["job"], as_read(fold([e["data"] for e in events[:4]]), BASIC, moment))


def test_basic_time_travel_leaves_progress_out_and_full_time_travel_shows_it(
        server: Server, keys: Keys, story: Story) -> None:
    basic = ok(server.call("GET", f"{job_path(story.job_id)}?version=4", key=keys.auditor)).body["job"]
    full = ok(server.call("GET", f"{job_path(story.job_id)}?version=4&view={FULL}", key=keys.auditor)).body["job"]
    assert "progress" not in basic["jobData"]["stress"] and "jobProgressStr" not in basic
    assert full["jobData"]["stress"]["progress"]["testRun"]["testBatches"][0]["type"] == "drift"
    assert full["jobProgressStr"] == "1 / 2 tests completed"
    assert basic["jobData"]["stress"]["testRunId"] == full["jobData"]["stress"]["testRunId"] == "run-1"
    five = ok(server.call("GET", f"{job_path(story.job_id)}?version=5&view={FULL}", key=keys.auditor)).body["job"]
    assert five["jobProgressStr"] == "2 / 2 tests completed"


def test_as_of_before_the_job_was_created_is_not_found(server: Server, keys: Keys, story: Story) -> None:
    created = parse_time(history(server, keys.auditor, story.job_id)[0]["recordedAt"])
    just_before = rfc3339(created - timedelta(microseconds=1))
    refused(server.call("GET", f"{job_path(story.job_id)}?asOf={just_before}", key=keys.auditor), 404, 5)
    refused(server.call("GET", f"{job_path(story.job_id)}?asOf=2000-01-01T00:00:00Z", key=keys.auditor), 404, 5)


@pytest.mark.parametrize("query", ["version=1", "asOf=2999-01-01T00:00:00Z"])
def test_time_travel_on_a_job_that_never_existed_is_not_found(server: Server, keys: Keys, query: str) -> None:
    refused(server.call("GET", f"{job_path(unique('audit-ghost'))}?{query}", key=keys.auditor), 404, 5)


def test_a_version_beyond_the_last_is_out_of_range(server: Server, keys: Keys, story: Story) -> None:
    last = len(history(server, keys.auditor, story.job_id))
    refused(server.call("GET", f"{job_path(story.job_id)}?version={last + 1}", key=keys.auditor), 400, 11)
    refused(server.call("GET", f"{job_path(story.job_id)}?version=1000000", key=keys.auditor), 400, 11)
    ok(server.call("GET", f"{job_path(story.job_id)}?version={last}", key=keys.auditor))


@pytest.mark.parametrize("version", ["0", "-1", "two"])
def test_a_version_below_1_or_not_a_number_is_invalid(server: Server, keys: Keys, story: Story, version: str) -> None:
    refused(server.call("GET", f"{job_path(story.job_id)}?version={version}", key=keys.auditor), 400, 3)


@pytest.mark.parametrize("as_of", ["yesterday", "2026-01-01T00:00:00", "2026-13-01T00:00:00Z", "1700000000"])
def test_an_as_of_that_is_not_an_rfc3339_time_with_a_zone_is_invalid(
        server: Server, keys: Keys, story: Story, as_of: str) -> None:
    refused(server.call("GET", f"{job_path(story.job_id)}?asOf={quote(as_of)}", key=keys.auditor), 400, 3)


def test_as_of_and_version_together_are_invalid(server: Server, keys: Keys, story: Story) -> None:
    refused(server.call("GET", f"{job_path(story.job_id)}?version=1&asOf=2999-01-01T00:00:00Z", key=keys.auditor),
            400, 3)


# --- who may ask


def audit_paths(story: Story) -> dict[str, str]:
    job = job_path(story.job_id)
    return {"history": f"{job}/events", "feed": "/v1/events?afterPosition=0&limit=5",
            "version": f"{job}?version=1", "asOf": f"{job}?asOf=2999-01-01T00:00:00Z"}


@pytest.mark.parametrize("route", ["history", "feed", "version", "asOf"])
@pytest.mark.parametrize("role", ["reader", "writer"])
def test_readers_and_writers_may_not_use_the_audit_routes_or_time_travel(
        server: Server, keys: Keys, story: Story, role: str, route: str) -> None:
    refused(server.call("GET", audit_paths(story)[route], key=getattr(keys, role)), 403, 7)


@pytest.mark.parametrize("route", ["history", "feed", "version", "asOf"])
@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_may_use_the_audit_routes_and_time_travel(
        server: Server, keys: Keys, story: Story, role: str, route: str) -> None:
    ok(server.call("GET", audit_paths(story)[route], key=getattr(keys, role)))


@pytest.mark.parametrize("route", ["history", "feed", "version", "asOf"])
def test_the_audit_routes_and_time_travel_need_an_api_key(server: Server, story: Story, route: str) -> None:
    refused(server.call("GET", audit_paths(story)[route]), 401, 16)


@pytest.mark.parametrize("query", ["version=0", "asOf=yesterday", "version=1&view=JOB_VIEW_BOGUS",
                                   "asOf=2999-01-01T00:00:00Z&view=JOB_VIEW_BOGUS"])
def test_a_reader_is_refused_for_its_role_before_its_time_travel_request_is_checked(
        server: Server, keys: Keys, story: Story, query: str) -> None:
    # the contract: authentication and role (401, 403) are checked before the request's own validity (400)
    refused(server.call("GET", f"{job_path(story.job_id)}?{query}", key=keys.reader), 403, 7)


def test_a_reader_is_refused_for_its_role_before_the_feeds_limits_are_checked(server: Server, keys: Keys) -> None:
    refused(server.call("GET", "/v1/events?limit=0", key=keys.reader), 403, 7)


@pytest.mark.parametrize("route", ["upsert", "fail", "cancel", "finalize"])
def test_an_auditor_may_not_write(server: Server, keys: Keys, actors: Actors, route: str) -> None:
    job_id = unique("audit-target")
    ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=actors.writer[0]))
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=actors.writer[0]))
    calls = {"upsert": ("/v1/jobs:upsert", {"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"},
                                            "writeMask": {"status": True}}),
             "fail": (f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR"}),
             "cancel": (f"/v1/jobs/cancel/{job_id}", None),
             "finalize": (f"/v1/jobs/{job_id}:finalizeCancellation", None)}
    path, body = calls[route]
    refused(server.call("POST", path, body, key=actors.auditor[0]), 403, 7)
    assert [e["type"] for e in history(server, actors.auditor[0], job_id)] == ["Created", "CancellationRequested"]
