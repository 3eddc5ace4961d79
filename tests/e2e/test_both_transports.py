"""The job API's behaviour over both transports, from one suite: every test runs over HTTP/JSON and over gRPC
(fixture `api`), on both backends (fixture `server`), against a real `jobstore serve` serving both.

One behaviour, two transports: the same routes and answers, the same error codes, messages that differ only in
how they spell field names (the REST API's camelCase paths, the gRPC request's proto paths), the same order of
checks (authentication, role, validity, existence, state), idempotent retries that replay whichever transport
they come over, and read-your-writes with a minimum log position. HTTP's own protocol (bodies that are not JSON,
routes, headers) is tested in the test_http_*.py files.

A refused write must store nothing: `appends_nothing` checks that the log holds nothing new but a probe written
after it (tests in a module run one at a time against their own server). Errors are checked by code and by the
field the message names; `test_every_error_reads_the_same_on_both_transports_but_for_the_field_names` compares
the whole messages.
"""
from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobstore.adapters.grpc.convert import in_proto_terms, job_fields_in_proto_terms, proto_path, with_grpc_names
from jobstore.domain.checkpoint import Checkpoint
from jobstore.domain.errors import InvalidArgument
from jobstore.domain.merkle import leaf_hash, verify_consistency, verify_inclusion
from tests.conftest import unique
from tests.e2e.conftest import Keys, store_location
from tests.e2e.server import Server
from tests.e2e.transports import TRANSPORTS, Answer, Transport, transport

STRESS = "JOB_TYPE_MODEL_STRESS_TEST"
FILE_SCAN, IMAGE = "JOB_TYPE_FILE_SCAN", "JOB_TYPE_IMAGE_BUILDER"
REQUESTED, PENDING, RUNNING = "JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"
SUCCEEDED, FAILED, CANCELLED = "JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"
GENERIC, OOM = "TERMINATION_REASON_GENERIC_ERROR", "TERMINATION_REASON_OOMKILLED"
BASIC, FULL = "JOB_VIEW_BASIC", "JOB_VIEW_FULL"
UNKNOWN_ENUM = 99  # a number no enum knows: how both transports can send an unknown enum value
OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 0, 3, 5, 6, 7
FAILED_PRECONDITION, OUT_OF_RANGE, DEADLINE_EXCEEDED, UNAUTHENTICATED = 9, 11, 4, 16
REST_NAMES = re.compile(r"\b(?:pageToken|pageSize|jobId|jobType|terminationReason|termReason|errorMsg|minPosition|"
                        r"writeMask|afterVersion|afterPosition|asOf|firstPageQuery|archivedJobLogs|agentId|"
                        r"jobData|X-Request-Id|Idempotency-Key)\b")  # a gRPC request names none of these
QUOTED = re.compile(r"'[^']*'")  # a job id, which is what it is whatever the transport
METADATA_NAMES = {"X-Request-Id": "x-request-id metadata"}  # what proto_path leaves as the REST API names it


# --- fixtures


@pytest.fixture(scope="module")
def transports(server: Server) -> Iterator[dict[str, Transport]]:
    made = {name: transport(name, server) for name in TRANSPORTS}
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(params=TRANSPORTS)
def api(request: pytest.FixtureRequest, transports: dict[str, Transport]) -> Transport:
    """The transport under test."""
    return transports[request.param]


@pytest.fixture
def other(api: Transport, transports: dict[str, Transport]) -> Transport:
    """The other transport, for what must hold across both."""
    return next(client for name, client in transports.items() if name != api.name)


@dataclass
class World:
    """Jobs that the tests of a module share and never change (refused requests are tried on them)."""

    keys: Keys
    project: str
    agent: str
    running: str  # a stress test in RUNNING, of `project` and `agent`, with progress
    succeeded: str  # a stress test in SUCCEEDED, with a test run
    image: str  # an image build in REQUESTED: no project, no test run
    failed: str  # an image build in FAILED
    missing: str  # no job has this id
    position: int  # the last of these writes


@pytest.fixture(scope="module")
def world(transports: dict[str, Transport], keys: Keys) -> World:
    http, admin = transports["http"], keys.admin
    project, agent = unique("project"), unique("agent")
    running, succeeded, image, failed = unique("running"), unique("succeeded"), unique("image"), unique("failed")
    for job_id in (running, succeeded):
        accepted(http.upsert(stress_job(job_id, project, status=PENDING, agentId={"uuid": agent}), key=admin))
        move(http, admin, job_id, RUNNING)
    accepted(http.upsert({"jobId": running, "jobData": {"stress": {"progress": PROGRESS}}},
                         {"jobData": {"stress": {"progress": True}}}, key=admin))
    move(http, admin, succeeded, SUCCEEDED)
    accepted(http.upsert({"jobId": image, "jobType": IMAGE}, key=admin))
    accepted(http.upsert({"jobId": failed, "jobType": IMAGE}, key=admin))
    last = accepted(http.fail(failed, {"terminationReason": GENERIC, "errorMsg": "boom"}, key=admin))
    assert last.position is not None
    return World(keys, project, agent, running, succeeded, image, failed, unique("missing"), last.position)


@pytest.fixture(autouse=True)
def _server_stays_alive(server: Server) -> Iterator[None]:
    yield
    assert server.process is not None and server.process.poll() is None, "jobstore serve died:\n" + server.log()


# --- helpers

PROGRESS = {"testRun": {"testRunId": "r1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
    {"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"}, {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"}]}}


def stress_job(job_id: str, project: str = "p", **fields: Any) -> dict[str, Any]:
    return {"jobId": job_id, "jobType": STRESS,
            "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": f"run-of-{job_id}"}}, **fields}


def accepted(answer: Answer) -> Answer:
    assert answer.code == OK, (answer.code, answer.message)
    assert not answer.replayed
    return answer


def move(api: Transport, key: str, job_id: str, *statuses: str) -> Answer:
    answer = None
    for status in statuses:
        answer = accepted(api.upsert({"jobId": job_id, "status": status}, {"status": True}, key=key))
        assert answer.job["status"] == status and answer.position is not None
    assert answer is not None
    return answer


def named(api: Transport, field: str) -> str:
    """A field as `api` names it in messages: the REST API's path, or the gRPC request's."""
    if api.name == "http":
        return field
    return METADATA_NAMES.get(field) or proto_path(field)


def refused(answer: Answer, code: int, api: Transport | None = None, field: str | None = None) -> Answer:
    """`answer` is an error with `code`, a googlerpc Status that has no place in the log (only a read's NOT_FOUND
    and FAILED_PRECONDITION say where the view stood); with `field`, its message begins with the field as `api`
    names it."""
    assert answer.code == code, (answer.code, answer.message)
    assert answer.body == {"code": code, "message": answer.message, "details": []}
    assert answer.message.strip() and (answer.position is None or code in (NOT_FOUND, FAILED_PRECONDITION))
    if field is not None:
        assert api is not None
        assert answer.message.startswith(f"{named(api, field)}: "), (named(api, field), answer.message)
    return answer


def comparable(job: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in job.items() if name != "runningTimeSecs"}


def probe(api: Transport, key: str) -> int:
    """The position of a new job's creation: the next place in the log."""
    position = accepted(api.upsert({"jobId": unique("probe"), "jobType": IMAGE}, key=key)).position
    assert position is not None
    return position


@contextmanager
def appends_nothing(api: Transport, keys: Keys) -> Iterator[None]:
    """Nothing in the block appends to the log: between two probes, the log holds only the second. (Positions
    may skip a number on PostgreSQL, where a creation that finds its job exists uses one up.)"""
    before = probe(api, keys.writer)
    yield
    after = probe(api, keys.writer)
    appended = accepted(api.feed(before, key=keys.auditor)).body["events"]
    assert [event["position"] for event in appended] == [after], f"the log moved on a refused write: {appended}"


def history_types(api: Transport, auditor: str, job_id: str) -> list[str]:
    answer = accepted(api.history(job_id, key=auditor))
    return [event["type"] for event in answer.body["events"]]


def fresh_job(api: Transport, key: str, cancel_requested: bool = False) -> str:
    job_id = unique("fresh")
    accepted(api.upsert({"jobId": job_id, "jobType": IMAGE, "status": PENDING}, key=key))
    if cancel_requested:
        accepted(api.request_cancellation(job_id, key=key))
    return job_id


# --- every route: what it answers


def test_an_upsert_creates_the_job_and_a_read_at_its_position_shows_it(
        api: Transport, keys: Keys, world: World) -> None:
    job_id, agent = unique("create"), unique("agent")
    logs = {"url": {"url": "https://logs.example/1"}, "expirationTime": "2031-01-02T03:04:05Z"}
    created = accepted(api.upsert(stress_job(job_id, world.project, agentId={"uuid": agent}, archivedJobLogs=logs,
                                             terminationReason=OOM), key=keys.writer))
    job = created.job
    assert set(created.body) == {"job"} and created.position is not None and created.position > world.position
    assert (job["jobId"], job["jobType"], job["status"]) == (job_id, STRESS, REQUESTED)
    assert job["cancellationRequested"] is False and job["runningTimeSecs"] == 0
    assert job["agentId"] == {"uuid": agent} and job["archivedJobLogs"] == logs and job["terminationReason"] == OOM
    assert job["jobData"] == {"stress": {"projectId": {"uuid": world.project}, "testRunId": f"run-of-{job_id}"}}
    for unset in ("startTime", "completionTime", "errorMsg", "jobProgressStr"):
        assert unset not in job

    read = accepted(api.get_job(job_id, key=keys.reader, min_position=created.position))
    assert comparable(read.job) == comparable(job) and read.position == created.position
    listed = accepted(api.list_jobs(agent=agent, key=keys.reader, min_position=created.position))
    assert [comparable(j) for j in listed.body["jobs"]] == [comparable(job)] and listed.body["hasMore"] is False


def test_an_upsert_writes_only_the_masked_fields_and_one_that_changes_nothing_has_no_position(
        api: Transport, keys: Keys) -> None:
    job_id = unique("mask")
    accepted(api.upsert(stress_job(job_id, "p-1"), key=keys.writer))
    update = {"jobId": job_id, "status": PENDING, "agentId": {"uuid": "agent-1"},
              "jobData": {"stress": {"projectId": {"uuid": "p-2"}, "testRunId": "run-2"}}}
    written = accepted(api.upsert(update, {"agentId": True, "jobData": {"stress": {"testRunId": True}}},
                                  key=keys.writer))
    assert written.position is not None
    assert written.job["agentId"] == {"uuid": "agent-1"} and written.job["status"] == REQUESTED
    assert written.job["jobData"]["stress"] == {"projectId": {"uuid": "p-1"}, "testRunId": "run-2"}
    for mask in (None, {}):
        unchanged = accepted(api.upsert(update, mask, key=keys.writer))
        assert unchanged.position is None and comparable(unchanged.job) == comparable(written.job)
    same_status = accepted(api.upsert({"jobId": job_id, "status": REQUESTED}, {"status": True}, key=keys.writer))
    assert same_status.position is None


def test_a_job_moves_through_its_statuses_and_succeeds_with_a_test_run_and_a_project(
        api: Transport, keys: Keys) -> None:
    job_id, project = unique("lifecycle"), unique("project")
    accepted(api.upsert(stress_job(job_id, project, status=PENDING), key=keys.writer))
    started = move(api, keys.writer, job_id, RUNNING).job
    assert "startTime" in started and "completionTime" not in started
    done = move(api, keys.writer, job_id, SUCCEEDED)
    assert done.job["startTime"] == started["startTime"] and "completionTime" in done.job
    test_run = accepted(api.get_test_run_id(job_id, key=keys.reader, min_position=done.position))
    assert test_run.body == {"testRunId": f"run-of-{job_id}"}
    assert accepted(api.get_project_id(job_id, key=keys.reader)).body == {"projectId": {"uuid": project}}


def test_fail_sets_failed_with_its_reason_message_and_archived_logs_and_repeating_it_changes_nothing(
        api: Transport, keys: Keys) -> None:
    job_id = unique("fail")
    accepted(api.upsert(stress_job(job_id, status=PENDING), key=keys.writer))
    logs = {"url": {"url": "https://logs.example/failed.tgz"}, "expirationTime": "2031-05-06T07:08:09.120000Z"}
    body = {"terminationReason": OOM, "errorMsg": "out of memory", "jobType": STRESS, "archivedJobLogs": logs}
    failed = accepted(api.fail(job_id, body, key=keys.writer))
    job = failed.job
    assert failed.position is not None and set(failed.body) == {"job"}
    assert (job["status"], job["terminationReason"], job["errorMsg"]) == (FAILED, OOM, "out of memory")
    assert job["archivedJobLogs"] == logs and "completionTime" in job
    history = accepted(api.history(job_id, key=keys.auditor)).body["events"]
    assert history[-1]["type"] == "Failed" and history[-1]["data"]["archivedJobLogs"]["url"] == logs["url"]
    assert history[-1]["position"] == failed.position

    again = accepted(api.fail(job_id, body, key=keys.writer))
    assert again.position is None and again.job["completionTime"] == job["completionTime"]
    without_logs = accepted(api.fail(job_id, {"terminationReason": OOM, "errorMsg": "out of memory"},
                                     key=keys.writer))
    assert without_logs.position is None and without_logs.job["archivedJobLogs"] == logs
    bare = unique("fail-bare")
    accepted(api.upsert({"jobId": bare, "jobType": IMAGE}, key=keys.writer))
    assert "errorMsg" not in accepted(api.fail(bare, {"terminationReason": GENERIC}, key=keys.writer)).job


def test_fail_and_finalize_with_another_job_type_are_invalid_argument_naming_the_job_type(
        api: Transport, keys: Keys) -> None:
    job_id = fresh_job(api, keys.writer, cancel_requested=True)
    with appends_nothing(api, keys):
        refused(api.fail(job_id, {"terminationReason": GENERIC, "jobType": STRESS}, key=keys.writer),
                INVALID_ARGUMENT, api, "jobType")
        refused(api.finalize_cancellation(job_id, STRESS, key=keys.writer), INVALID_ARGUMENT, api, "jobType")
    done = accepted(api.finalize_cancellation(job_id, IMAGE, key=keys.writer))
    assert done.job["status"] == CANCELLED


def test_cancel_marks_the_job_and_finalize_cancels_it_each_once(api: Transport, keys: Keys) -> None:
    job_id = fresh_job(api, keys.writer)
    move(api, keys.writer, job_id, RUNNING)
    cancel = accepted(api.request_cancellation(job_id, key=keys.writer))
    assert cancel.body == {} and cancel.position is not None
    again = accepted(api.request_cancellation(job_id, key=keys.writer))
    assert again.body == {} and again.position is None
    shown = accepted(api.get_job(job_id, key=keys.reader, min_position=cancel.position)).job
    assert shown["cancellationRequested"] is True and shown["status"] == RUNNING
    final = accepted(api.finalize_cancellation(job_id, key=keys.writer))
    assert final.position is not None and final.job["status"] == CANCELLED and "completionTime" in final.job
    repeated = accepted(api.finalize_cancellation(job_id, IMAGE, key=keys.writer))
    assert repeated.position is None and repeated.job["completionTime"] == final.job["completionTime"]


def test_get_job_shows_progress_in_full_only(api: Transport, keys: Keys, world: World) -> None:
    full = accepted(api.get_job(world.running, FULL, key=keys.reader)).job
    assert full["jobProgressStr"] == "1 / 2 tests completed" and full["jobData"]["stress"]["progress"] == PROGRESS
    for view in (None, BASIC, "JOB_VIEW_UNSPECIFIED"):
        basic = accepted(api.get_job(world.running, view, key=keys.reader)).job
        assert "jobProgressStr" not in basic and "progress" not in basic["jobData"]["stress"]
        assert basic["jobData"]["stress"]["testRunId"] == full["jobData"]["stress"]["testRunId"]


def test_reads_repeated_show_each_change_of_the_job_and_the_running_time_of_a_running_one(
        api: Transport, keys: Keys) -> None:
    """A read's answer is kept for the next read of the job unchanged (adapters/core/answers.py): every change
    shows all the same, BASIC and FULL stay apart, and a running job's runningTimeSecs grows from read to read."""
    job_id = unique("reread")

    def read(view: str | None, position: int | None = None) -> dict[str, Any]:
        return accepted(api.get_job(job_id, view, key=keys.reader, min_position=position)).job

    created = accepted(api.upsert(stress_job(job_id, status=PENDING), key=keys.writer))
    pending = read(FULL, created.position)
    assert pending["status"] == PENDING and read(FULL) == pending and read(BASIC) == pending
    with_progress = accepted(api.upsert({"jobId": job_id, "jobData": {"stress": {"progress": PROGRESS}}},
                                        {"jobData": {"stress": {"progress": True}}}, key=keys.writer))
    full = read(FULL, with_progress.position)
    assert full["jobData"]["stress"]["progress"] == PROGRESS and full["jobProgressStr"] == "1 / 2 tests completed"
    basic = read(BASIC)
    assert "progress" not in basic["jobData"]["stress"] and "jobProgressStr" not in basic
    assert read(FULL) == full and read(BASIC) == basic

    started = move(api, keys.writer, job_id, RUNNING)
    running = [read(FULL, started.position)["runningTimeSecs"]]
    for _ in range(2):
        time.sleep(0.02)
        running.append(read(FULL)["runningTimeSecs"])
    assert running == sorted(running) and running[0] < running[-1], running

    done = move(api, keys.writer, job_id, SUCCEEDED)
    ended = read(FULL, done.position)
    assert ended["status"] == SUCCEEDED and ended["runningTimeSecs"] >= running[-1]
    assert read(FULL) == ended and read(BASIC)["runningTimeSecs"] == ended["runningTimeSecs"]


@pytest.fixture(scope="module")
def population(transports: dict[str, Transport], keys: Keys) -> dict[str, Any]:
    """One agent's and one project's jobs, in several types, statuses and termination reasons."""
    http, admin = transports["http"], keys.admin
    project, agent = unique("listed"), unique("lister")
    jobs = {name: unique(name) for name in ("req", "run", "oom", "scan", "image")}
    mine = {"agentId": {"uuid": agent}}
    accepted(http.upsert(stress_job(jobs["req"], project, **mine), key=admin))
    accepted(http.upsert(stress_job(jobs["run"], project, status=PENDING, **mine), key=admin))
    move(http, admin, jobs["run"], RUNNING)
    accepted(http.upsert(stress_job(jobs["oom"], project, **mine), key=admin))
    accepted(http.fail(jobs["oom"], {"terminationReason": OOM}, key=admin))
    accepted(http.upsert({"jobId": jobs["scan"], "jobType": FILE_SCAN, **mine,
                          "jobData": {"fileScan": {"projectId": {"uuid": project}, "fileScanId": "s"}}}, key=admin))
    last = accepted(http.upsert({"jobId": jobs["image"], "jobType": IMAGE, **mine}, key=admin))
    return {"project": project, "agent": agent, "jobs": jobs, "position": last.position}


def listed(answer: Answer) -> list[str]:
    accepted(answer)
    assert set(answer.body) <= {"jobs", "hasMore", "nextPageToken"} and isinstance(answer.body["hasMore"], bool)
    return [job["jobId"] for job in answer.body["jobs"]]


def test_lists_filter_by_agent_project_status_type_and_termination_reason(
        api: Transport, keys: Keys, population: dict[str, Any]) -> None:
    jobs, agent, project = population["jobs"], population["agent"], population["project"]
    newest_first = [jobs[name] for name in ("image", "scan", "oom", "run", "req")]
    assert listed(api.list_jobs(agent=agent, key=keys.reader, min_position=population["position"])) == newest_first
    assert listed(api.list_jobs(agent=agent, statuses=[RUNNING, FAILED], key=keys.reader)) == \
        [jobs["oom"], jobs["run"]]
    assert listed(api.list_jobs(agent=agent, types=[FILE_SCAN, IMAGE], key=keys.reader)) == \
        [jobs["image"], jobs["scan"]]
    assert listed(api.list_jobs(agent=agent, reasons=[OOM], key=keys.reader)) == [jobs["oom"]]
    assert listed(api.list_jobs_for_project(project, key=keys.reader)) == newest_first[1:]
    assert listed(api.list_jobs_for_project(project, types=[STRESS], statuses=[REQUESTED, RUNNING],
                                            key=keys.reader)) == [jobs["run"], jobs["req"]]
    assert listed(api.list_jobs_for_project(unique("empty"), key=keys.reader)) == []


def test_lists_page_by_token_alone_and_show_full_when_asked(
        api: Transport, keys: Keys, population: dict[str, Any], world: World) -> None:
    jobs = population["jobs"]
    first = api.list_jobs(agent=population["agent"], types=[STRESS], page_size=2, key=keys.reader)
    assert listed(first) == [jobs["oom"], jobs["run"]] and first.body["hasMore"] is True
    second = api.list_jobs(page_token=first.body["nextPageToken"], page_size=2, key=keys.reader)
    assert listed(second) == [jobs["req"]] and second.body["hasMore"] is False and "nextPageToken" not in second.body
    page = api.list_jobs_for_project(population["project"], page_size=3, key=keys.reader)
    rest = api.list_jobs_for_project(population["project"], page_token=page.body["nextPageToken"], key=keys.reader)
    assert listed(page) + listed(rest) == [jobs[name] for name in ("scan", "oom", "run", "req")]

    full = accepted(api.list_jobs_for_project(world.project, view=FULL, key=keys.reader)).body["jobs"]
    running = next(job for job in full if job["jobId"] == world.running)
    assert running["jobProgressStr"] == "1 / 2 tests completed"
    basic = accepted(api.list_jobs_for_project(world.project, key=keys.reader)).body["jobs"]
    assert all("jobProgressStr" not in job for job in basic)


def test_the_auditor_reads_the_history_the_job_as_it_was_and_the_log(api: Transport, keys: Keys) -> None:
    job_id, request_id = unique("audited"), unique("req")
    created = accepted(api.upsert({"jobId": job_id, "jobType": IMAGE}, key=keys.writer, request_id=request_id))
    assert created.request_id == request_id
    moved = move(api, keys.writer, job_id, PENDING)
    events = accepted(api.history(job_id, key=keys.auditor)).body["events"]
    assert [(e["type"], e["version"], e["position"]) for e in events] == \
        [("Created", 1, created.position), ("Upserted", 2, moved.position)]
    assert events[0]["requestId"] == request_id and events[0]["serverRequestId"] != request_id
    assert events[0]["actor"]["role"] == "writer" and events[1]["prevHash"] == events[0]["hash"]
    rest = accepted(api.history(job_id, after_version=1, key=keys.auditor)).body
    assert rest == {"events": events[1:]}

    at_first = accepted(api.as_it_was(job_id, version=1, key=keys.auditor)).job
    assert comparable(at_first) == comparable(created.job)
    at_creation = accepted(api.as_it_was(job_id, as_of=events[0]["recordedAt"], view=FULL, key=keys.auditor)).job
    assert at_creation["status"] == REQUESTED
    assert accepted(api.as_it_was(job_id, version=2, key=keys.admin)).job["status"] == PENDING

    assert created.position is not None
    log = accepted(api.feed(created.position - 1, key=keys.auditor)).body["events"]
    assert [event for event in log if event["jobId"] == job_id] == events
    assert log[0]["position"] == created.position


def test_the_checkpoint_proves_each_new_event_and_extends_the_one_before(api: Transport, keys: Keys) -> None:
    def checkpoint_holding(position: int) -> Checkpoint:
        deadline = time.monotonic() + 10
        while True:
            note = accepted(api.checkpoint(key=keys.auditor)).body["checkpoint"]
            checkpoint = Checkpoint.parse(note.split("\n\n")[0] + "\n")
            proof = api.inclusion_proof(position, key=keys.auditor)
            if (proof.code == OK and proof.body["leafIndex"] < checkpoint.size) or time.monotonic() > deadline:
                return checkpoint

    first = accepted(api.upsert({"jobId": unique("proved"), "jobType": IMAGE}, key=keys.writer))
    assert first.position is not None
    before = checkpoint_holding(first.position)
    second = accepted(api.upsert({"jobId": unique("proved"), "jobType": IMAGE}, key=keys.writer))
    assert second.position is not None
    after = checkpoint_holding(second.position)
    events = {e["position"]: e for e in accepted(api.feed(first.position - 1, key=keys.auditor)).body["events"]}
    proof = accepted(api.inclusion_proof(second.position, after.size, key=keys.auditor)).body
    leaf = leaf_hash(bytes.fromhex(events[second.position]["hash"]))
    assert base64.b64decode(proof["leafHash"]) == leaf and proof["treeSize"] == after.size
    verify_inclusion(proof["leafIndex"], after.size, leaf, [base64.b64decode(h) for h in proof["hashes"]],
                     after.root)
    consistency = accepted(api.consistency_proof(before.size, after.size, key=keys.auditor)).body
    assert (consistency["from"], consistency["to"]) == (before.size, after.size)
    verify_consistency(before.size, after.size, before.root, after.root,
                       [base64.b64decode(h) for h in consistency["hashes"]])


# --- every error each route can give: codes, and the field a message names


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[Transport, World], Answer]
    code: int
    field: str | None = None  # as the REST API names it
    same_problem: bool = True  # the message past the field name reads the same on both transports


ERRORS = [
    # INVALID_ARGUMENT: the request's own validity, naming the field
    Case("upsert-no-job-id", lambda a, w: a.upsert({"jobType": IMAGE}, key=w.keys.writer), 3, "job.jobId"),
    Case("upsert-bad-job-id", lambda a, w: a.upsert({"jobId": "a b", "jobType": IMAGE}, key=w.keys.writer), 3,
         "job.jobId"),
    Case("upsert-new-without-type", lambda a, w: a.upsert({"jobId": w.missing}, key=w.keys.writer), 3,
         "job.jobType"),
    Case("upsert-unknown-status", lambda a, w: a.upsert({"jobId": w.running, "status": UNKNOWN_ENUM},
                                                        {"status": True}, key=w.keys.writer), 3, "job.status"),
    Case("upsert-cancelled", lambda a, w: a.upsert({"jobId": w.running, "status": CANCELLED}, {"status": True},
                                                   key=w.keys.writer), 3, "job.status"),
    Case("upsert-mask-without-field", lambda a, w: a.upsert({"jobId": w.running}, {"agentId": True},
                                                            key=w.keys.writer), 3, "writeMask.agentId"),
    Case("upsert-data-of-another-type", lambda a, w: a.upsert(
        {"jobId": w.running, "jobData": {"fileScan": {"fileScanId": "f"}}},
        {"jobData": {"fileScan": {"fileScanId": True}}}, key=w.keys.writer), 3, "job.jobData.fileScan"),
    Case("upsert-type-change", lambda a, w: a.upsert({"jobId": w.running, "jobType": IMAGE}, key=w.keys.writer), 3,
         "job.jobType"),
    Case("upsert-long-agent", lambda a, w: a.upsert({"jobId": w.running, "agentId": {"uuid": "a" * 5000}},
                                                    {"agentId": True}, key=w.keys.writer), 3, "job.agentId.uuid"),
    Case("upsert-http-logs", lambda a, w: a.upsert({"jobId": w.running, "archivedJobLogs": {"url": {
        "url": "http://logs.example/1"}}}, {"archivedJobLogs": True}, key=w.keys.writer), 3,
        "job.archivedJobLogs.url.url"),
    Case("fail-no-reason", lambda a, w: a.fail(w.running, {"errorMsg": "x"}, key=w.keys.writer), 3,
         "terminationReason"),
    Case("fail-unknown-reason", lambda a, w: a.fail(w.running, {"terminationReason": UNKNOWN_ENUM},
                                                    key=w.keys.writer), 3, "terminationReason"),
    Case("fail-long-message", lambda a, w: a.fail(w.running, {"terminationReason": GENERIC, "errorMsg": "e" * 4097},
                                                  key=w.keys.writer), 3, "errorMsg"),
    Case("fail-another-type", lambda a, w: a.fail(w.running, {"terminationReason": GENERIC, "jobType": IMAGE},
                                                  key=w.keys.writer), 3, "jobType"),
    Case("fail-bad-job-id", lambda a, w: a.fail("a b", {"terminationReason": GENERIC}, key=w.keys.writer), 3,
         "jobId"),
    Case("cancel-bad-job-id", lambda a, w: a.request_cancellation("a b", key=w.keys.writer), 3, "jobId"),
    Case("finalize-bad-job-id", lambda a, w: a.finalize_cancellation("x" * 129, key=w.keys.writer), 3, "jobId"),
    Case("finalize-another-type", lambda a, w: a.finalize_cancellation(w.running, IMAGE, key=w.keys.writer), 3,
         "jobType"),
    Case("finalize-unknown-type", lambda a, w: a.finalize_cancellation(w.running, UNKNOWN_ENUM, key=w.keys.writer),
         3, "jobType"),
    Case("get-bad-view", lambda a, w: a.get_job(w.running, 7, key=w.keys.reader), 3, "view"),
    Case("get-bad-job-id", lambda a, w: a.get_job("a\tb", key=w.keys.reader), 3, "jobId"),
    Case("list-negative-page-size", lambda a, w: a.list_jobs(page_size=-1, key=w.keys.reader), 3, "pageSize"),
    Case("list-forged-token", lambda a, w: a.list_jobs(page_token="forged.token", key=w.keys.reader), 3,
         "pageToken"),
    Case("list-unknown-status", lambda a, w: a.list_jobs(statuses=[UNKNOWN_ENUM], key=w.keys.reader), 3,
         "firstPageQuery.selectedStatuses"),
    Case("list-unknown-type", lambda a, w: a.list_jobs(types=[UNKNOWN_ENUM], key=w.keys.reader), 3,
         "firstPageQuery.selectedTypes"),
    Case("list-unknown-reason", lambda a, w: a.list_jobs(reasons=[UNKNOWN_ENUM], key=w.keys.reader), 3,
         "firstPageQuery.selectedTerminationReasons"),
    Case("list-bad-view", lambda a, w: a.list_jobs(view=7, key=w.keys.reader), 3, "view"),
    Case("project-list-forged-token", lambda a, w: a.list_jobs_for_project(w.project, page_token="x.y",
                                                                           key=w.keys.reader), 3, "pageToken"),
    Case("project-list-negative-page-size", lambda a, w: a.list_jobs_for_project(w.project, page_size=-5,
                                                                                 key=w.keys.reader), 3, "pageSize"),
    Case("project-id-bad-job-id", lambda a, w: a.get_project_id("a b", key=w.keys.reader), 3, "jobId"),
    Case("test-run-id-bad-job-id", lambda a, w: a.get_test_run_id("a b", key=w.keys.reader), 3, "jobId"),
    Case("get-negative-min-position", lambda a, w: a.get_job(w.running, key=w.keys.reader, min_position=-1), 3,
         "minPosition"),
    Case("get-min-position-not-a-number", lambda a, w: a.get_job(w.running, key=w.keys.reader, min_position="soon"),
         3, "minPosition", same_problem=False),
    Case("history-bad-job-id", lambda a, w: a.history("a b", key=w.keys.auditor), 3, "jobId"),
    Case("history-negative-version", lambda a, w: a.history(w.running, -1, key=w.keys.auditor), 3, "afterVersion",
         same_problem=False),
    Case("as-it-was-bad-job-id", lambda a, w: a.as_it_was("a b", version=1, key=w.keys.auditor), 3, "jobId"),
    Case("as-it-was-version-0", lambda a, w: a.as_it_was(w.running, version=0, key=w.keys.auditor), 3, "version"),
    Case("as-it-was-bad-time", lambda a, w: a.as_it_was(w.running, as_of="yesterday", key=w.keys.auditor), 3,
         "asOf"),
    Case("as-it-was-bad-view", lambda a, w: a.as_it_was(w.running, version=1, view=7, key=w.keys.auditor), 3,
         "view"),
    Case("feed-negative-position", lambda a, w: a.feed(-1, key=w.keys.auditor), 3, "afterPosition",
         same_problem=False),
    Case("bad-request-id", lambda a, w: a.get_job(w.running, key=w.keys.reader, request_id="x" * 129), 3,
         "X-Request-Id"),
    Case("bad-idempotency-key", lambda a, w: a.request_cancellation(w.running, key=w.keys.writer,
                                                                    idempotency_key="k" * 256), 3,
         "Idempotency-Key"),
    # UNAUTHENTICATED and PERMISSION_DENIED (every route for every caller: test_each_caller_may_use_...)
    Case("get-without-a-key", lambda a, w: a.get_job(w.running, key=None), 16),
    Case("upsert-with-an-unknown-key", lambda a, w: a.upsert({"jobId": w.missing, "jobType": IMAGE},
                                                             key="jsk_unknown_key"), 16),
    Case("upsert-by-a-reader", lambda a, w: a.upsert({"jobId": w.missing, "jobType": IMAGE}, key=w.keys.reader), 7),
    Case("history-by-a-writer", lambda a, w: a.history(w.running, key=w.keys.writer), 7),
    Case("as-it-was-by-a-reader", lambda a, w: a.as_it_was(w.running, version=1, key=w.keys.reader), 7),
    Case("log-by-a-reader", lambda a, w: a.feed(0, key=w.keys.reader), 7),
    # NOT_FOUND: existence
    Case("upsert-missing", lambda a, w: a.upsert({"jobId": w.missing, "status": PENDING}, {"status": True},
                                                 key=w.keys.writer), 3, "job.jobType"),
    Case("fail-missing", lambda a, w: a.fail(w.missing, {"terminationReason": GENERIC}, key=w.keys.writer), 5),
    Case("cancel-missing", lambda a, w: a.request_cancellation(w.missing, key=w.keys.writer), 5),
    Case("finalize-missing", lambda a, w: a.finalize_cancellation(w.missing, key=w.keys.writer), 5),
    Case("get-missing", lambda a, w: a.get_job(w.missing, key=w.keys.reader), 5),
    Case("project-id-missing", lambda a, w: a.get_project_id(w.missing, key=w.keys.reader), 5),
    Case("test-run-id-missing", lambda a, w: a.get_test_run_id(w.missing, key=w.keys.reader), 5),
    Case("history-missing", lambda a, w: a.history(w.missing, key=w.keys.auditor), 5),
    Case("as-it-was-missing", lambda a, w: a.as_it_was(w.missing, version=1, key=w.keys.auditor), 5),
    Case("as-it-was-before-creation", lambda a, w: a.as_it_was(w.running, as_of="2001-01-01T00:00:00Z",
                                                               key=w.keys.auditor), 5),
    # FAILED_PRECONDITION: the job's state
    Case("upsert-illegal-transition", lambda a, w: a.upsert({"jobId": w.running, "status": PENDING},
                                                            {"status": True}, key=w.keys.writer), 9),
    Case("upsert-new-job-running", lambda a, w: a.upsert({"jobId": w.missing, "jobType": IMAGE, "status": RUNNING},
                                                         key=w.keys.writer), 9),
    Case("upsert-terminal-job", lambda a, w: a.upsert({"jobId": w.succeeded, "agentId": {"uuid": "late"}},
                                                      {"agentId": True}, key=w.keys.writer), 9),
    Case("fail-terminal-job", lambda a, w: a.fail(w.succeeded, {"terminationReason": GENERIC}, key=w.keys.writer),
         9),
    Case("fail-failed-job-otherwise", lambda a, w: a.fail(w.failed, {"terminationReason": OOM, "errorMsg": "boom"},
                                                          key=w.keys.writer), 9),
    Case("cancel-terminal-job", lambda a, w: a.request_cancellation(w.failed, key=w.keys.writer), 9),
    Case("finalize-without-request", lambda a, w: a.finalize_cancellation(w.running, key=w.keys.writer), 9),
    Case("project-id-of-an-image-build", lambda a, w: a.get_project_id(w.image, key=w.keys.reader), 9),
    Case("test-run-id-of-a-running-test", lambda a, w: a.get_test_run_id(w.running, key=w.keys.reader), 9),
    Case("test-run-id-of-an-image-build", lambda a, w: a.get_test_run_id(w.image, key=w.keys.reader), 9),
    # OUT_OF_RANGE: beyond what the log holds
    Case("as-it-was-beyond-the-last-version", lambda a, w: a.as_it_was(w.running, version=99, key=w.keys.auditor),
         11),
    Case("get-beyond-the-head", lambda a, w: a.get_job(w.running, key=w.keys.reader, min_position=10**12), 11),
    Case("list-beyond-the-head", lambda a, w: a.list_jobs(key=w.keys.reader, min_position=10**12), 11),
    Case("project-list-beyond-the-head", lambda a, w: a.list_jobs_for_project(w.project, key=w.keys.reader,
                                                                              min_position=10**12), 11),
    Case("project-id-beyond-the-head", lambda a, w: a.get_project_id(w.running, key=w.keys.reader,
                                                                     min_position=10**12), 11),
    Case("test-run-id-beyond-the-head", lambda a, w: a.get_test_run_id(w.succeeded, key=w.keys.reader,
                                                                       min_position=10**12), 11),
    # the log's tree: checkpoints and proofs
    Case("checkpoint-by-a-writer", lambda a, w: a.checkpoint(key=w.keys.writer), 7),
    Case("inclusion-position-0", lambda a, w: a.inclusion_proof(0, key=w.keys.auditor), 3, "position"),
    Case("inclusion-tree-size-0", lambda a, w: a.inclusion_proof(1, 0, key=w.keys.auditor), 3, "treeSize"),
    Case("inclusion-no-such-position", lambda a, w: a.inclusion_proof(10**12, key=w.keys.auditor), 5),
    Case("inclusion-beyond-the-tree", lambda a, w: a.inclusion_proof(1, 10**12, key=w.keys.auditor), 11),
    Case("consistency-from-0", lambda a, w: a.consistency_proof(0, key=w.keys.auditor), 3, "from"),
    Case("consistency-beyond-the-tree", lambda a, w: a.consistency_proof(1, 10**12, key=w.keys.auditor), 11),
    Case("consistency-by-a-reader", lambda a, w: a.consistency_proof(1, key=w.keys.reader), 7),
]


@pytest.mark.parametrize("case", ERRORS, ids=[case.id for case in ERRORS])
def test_each_route_gives_each_error_with_its_code_naming_the_field_and_stores_nothing(
        api: Transport, keys: Keys, world: World, case: Case) -> None:
    with appends_nothing(api, keys):
        answer = case.call(api, world)
    refused(answer, case.code, api, case.field)


def test_every_error_reads_the_same_on_both_transports_but_for_the_field_names(
        transports: dict[str, Transport], world: World) -> None:
    http, grpc = transports["http"], transports["grpc"]
    for case in ERRORS:
        over_http, over_grpc = case.call(http, world), case.call(grpc, world)
        assert over_http.code == over_grpc.code == case.code, case.id
        if case.field is None:
            assert not REST_NAMES.findall(QUOTED.sub("", over_grpc.message)), (case.id, over_grpc.message)
            expected = with_grpc_names(over_http.message)
            if case.code == FAILED_PRECONDITION:
                expected = job_fields_in_proto_terms(expected)
            assert over_grpc.message == expected, case.id
            continue
        http_problem = over_http.message.removeprefix(f"{case.field}: ")
        grpc_problem = over_grpc.message.removeprefix(f"{named(grpc, case.field)}: ")
        assert not REST_NAMES.findall(grpc_problem), (case.id, over_grpc.message)
        if case.same_problem:
            assert grpc_problem == translated(http_problem), (case.id, over_http.message, over_grpc.message)


def translated(problem: str) -> str:
    """The field paths a problem names, as the gRPC request names them."""
    return in_proto_terms(InvalidArgument("", problem)).message


# --- route x role: reader, writer, auditor and admin keys, no key, an empty key, an unknown key

ROUTES: dict[str, tuple[str, Callable[[Transport, World, str | None], Answer]]] = {
    "UpsertJob": ("write", lambda a, w, key: a.upsert({"jobId": unique("by-role"), "jobType": IMAGE}, key=key)),
    "FailJob": ("write", lambda a, w, key: a.fail(fresh_job(a, w.keys.admin), {"terminationReason": GENERIC},
                                                  key=key)),
    "CancelJob": ("write", lambda a, w, key: a.request_cancellation(fresh_job(a, w.keys.admin), key=key)),
    "FinalizeCancellation": ("write", lambda a, w, key: a.finalize_cancellation(
        fresh_job(a, w.keys.admin, cancel_requested=True), key=key)),
    "GetJob": ("read", lambda a, w, key: a.get_job(w.running, FULL, key=key)),
    "ListJobs": ("read", lambda a, w, key: a.list_jobs(agent=w.agent, key=key)),
    "ListJobsForProject": ("read", lambda a, w, key: a.list_jobs_for_project(w.project, key=key)),
    "GetProjectID": ("read", lambda a, w, key: a.get_project_id(w.running, key=key)),
    "GetTestRunID": ("read", lambda a, w, key: a.get_test_run_id(w.succeeded, key=key)),
    "ListJobEvents": ("audit", lambda a, w, key: a.history(w.running, key=key)),
    "GetJobAsItWas": ("audit", lambda a, w, key: a.as_it_was(w.running, version=1, key=key)),
    "StreamLog": ("audit", lambda a, w, key: a.feed(w.position - 1, key=key)),
    "GetCheckpoint": ("audit", lambda a, w, key: a.checkpoint(key=key)),
    "GetInclusionProof": ("audit", lambda a, w, key: a.inclusion_proof(1, key=key)),
    "GetConsistencyProof": ("audit", lambda a, w, key: a.consistency_proof(1, key=key)),
}
GRANTS = {"reader": {"read"}, "writer": {"read", "write"}, "auditor": {"read", "audit"},
          "admin": {"read", "write", "audit"}}
NOT_KEYS = ("no key", "empty key", "unknown key")


def caller_key(keys: Keys, caller: str) -> str | None:
    return {"no key": None, "empty key": "", "unknown key": f"jsk_{unique('nobody')}_{'x' * 43}",
            **{role: getattr(keys, role) for role in GRANTS}}[caller]


@pytest.mark.parametrize("caller", [*GRANTS, *NOT_KEYS])
def test_each_caller_may_use_exactly_the_routes_its_role_grants(
        api: Transport, keys: Keys, world: World, caller: str) -> None:
    key = caller_key(keys, caller)
    for route, (permission, call) in ROUTES.items():
        answer = call(api, world, key)
        if caller in NOT_KEYS:
            refused(answer, UNAUTHENTICATED)
        elif permission in GRANTS[caller]:
            assert answer.code == OK, (route, answer.code, answer.message)
        else:
            refused(answer, PERMISSION_DENIED)
            assert f"has role {caller}, which may not" in answer.message, (route, answer.message)


@pytest.mark.parametrize("caller", ["reader", "auditor", *NOT_KEYS])
def test_a_refused_write_stores_nothing(api: Transport, keys: Keys, world: World, caller: str) -> None:
    key = caller_key(keys, caller)
    job_id = fresh_job(api, keys.admin, cancel_requested=True)
    before = accepted(api.upsert({"jobId": job_id}, key=keys.admin)).job
    with appends_nothing(api, keys):
        for answer in (api.upsert({"jobId": job_id, "status": RUNNING}, {"status": True}, key=key),
                       api.upsert({"jobId": unique("never"), "jobType": IMAGE}, key=key),
                       api.fail(job_id, {"terminationReason": GENERIC}, key=key),
                       api.request_cancellation(job_id, key=key),
                       api.finalize_cancellation(job_id, key=key)):
            refused(answer, UNAUTHENTICATED if caller in NOT_KEYS else PERMISSION_DENIED)
    assert comparable(accepted(api.upsert({"jobId": job_id}, key=keys.admin)).job) == comparable(before)


# --- the order of checks: authentication, role, the request's validity, existence, state


ORDER: list[tuple[str, str, Callable[[Transport, World, str | None], Answer], int, str | None]] = [
    # (id, caller, call, code, field)
    ("no-key-before-an-invalid-upsert", "no key", lambda a, w, k: a.upsert(
        {"jobId": "a b", "status": UNKNOWN_ENUM}, {"status": True}, key=k), UNAUTHENTICATED, None),
    ("unknown-key-before-an-invalid-fail", "unknown key", lambda a, w, k: a.fail("a b", {}, key=k),
     UNAUTHENTICATED, None),
    ("no-key-before-a-bad-view-and-job-id", "no key", lambda a, w, k: a.get_job("a b", 7, key=k),
     UNAUTHENTICATED, None),
    ("no-key-before-a-bad-request-id", "empty key", lambda a, w, k: a.request_cancellation(
        w.running, key=k, request_id="x" * 300), UNAUTHENTICATED, None),
    ("no-key-before-a-bad-min-position", "no key", lambda a, w, k: a.get_job(w.running, key=k, min_position=-1),
     UNAUTHENTICATED, None),
    ("no-key-before-a-bad-idempotency-key", "no key", lambda a, w, k: a.request_cancellation(
        w.running, key=k, idempotency_key="k" * 300), UNAUTHENTICATED, None),
    ("reader-denied-before-an-invalid-upsert", "reader", lambda a, w, k: a.upsert(
        {"jobId": "a b", "status": UNKNOWN_ENUM}, {"status": True}, key=k), PERMISSION_DENIED, None),
    ("reader-denied-before-an-invalid-fail-of-a-missing-job", "reader", lambda a, w, k: a.fail(
        w.missing, {"terminationReason": UNKNOWN_ENUM}, key=k), PERMISSION_DENIED, None),
    ("auditor-denied-before-a-bad-job-id", "auditor", lambda a, w, k: a.finalize_cancellation("a b", key=k),
     PERMISSION_DENIED, None),
    ("writer-denied-the-history-before-a-bad-job-id", "writer", lambda a, w, k: a.history("a b", -1, key=k),
     PERMISSION_DENIED, None),
    ("reader-denied-the-past-before-a-bad-version", "reader", lambda a, w, k: a.as_it_was(
        "a b", version=0, view=7, key=k), PERMISSION_DENIED, None),
    ("auditor-denied-a-write-before-a-bad-request-id", "auditor", lambda a, w, k: a.request_cancellation(
        w.running, key=k, request_id="x" * 300), PERMISSION_DENIED, None),
    ("reader-denied-before-a-bad-idempotency-key", "reader", lambda a, w, k: a.request_cancellation(
        w.running, key=k, idempotency_key="k" * 300), PERMISSION_DENIED, None),
    ("a-bad-request-id-before-anything-else", "writer", lambda a, w, k: a.fail(
        "a b", {}, key=k, request_id="x" * 300), INVALID_ARGUMENT, "X-Request-Id"),
    ("invalid-fail-of-a-missing-job", "writer", lambda a, w, k: a.fail(
        w.missing, {"terminationReason": UNKNOWN_ENUM}, key=k), INVALID_ARGUMENT, "terminationReason"),
    ("invalid-upsert-of-a-missing-job", "writer", lambda a, w, k: a.upsert(
        {"jobId": w.missing, "status": RUNNING}, {"agentId": True}, key=k), INVALID_ARGUMENT, "writeMask.agentId"),
    ("bad-view-of-a-missing-job", "reader", lambda a, w, k: a.get_job(w.missing, 7, key=k), INVALID_ARGUMENT,
     "view"),
    ("bad-page-size-beyond-the-head", "reader", lambda a, w, k: a.list_jobs(page_size=-1, key=k,
                                                                             min_position=10**12),
     INVALID_ARGUMENT, "pageSize"),
    ("bad-version-of-a-missing-job", "auditor", lambda a, w, k: a.as_it_was(w.missing, version=0, key=k),
     INVALID_ARGUMENT, "version"),
    ("invalid-upsert-of-a-terminal-job", "writer", lambda a, w, k: a.upsert(
        {"jobId": w.succeeded, "status": CANCELLED}, {"status": True}, key=k), INVALID_ARGUMENT, "job.status"),
    ("invalid-fail-of-a-terminal-job", "writer", lambda a, w, k: a.fail(w.failed, {"errorMsg": "x"}, key=k),
     INVALID_ARGUMENT, "terminationReason"),
    ("beyond-the-head-before-existence", "reader", lambda a, w, k: a.get_job(w.missing, key=k,
                                                                              min_position=10**12),
     OUT_OF_RANGE, None),
    ("a-missing-job-before-its-state", "writer", lambda a, w, k: a.finalize_cancellation(w.missing, key=k),
     NOT_FOUND, None),
    ("a-missing-job-before-a-test-run", "reader", lambda a, w, k: a.get_test_run_id(w.missing, key=k), NOT_FOUND,
     None),
]


@pytest.mark.parametrize(("caller", "call", "code", "field"), [case[1:] for case in ORDER],
                         ids=[case[0] for case in ORDER])
def test_checks_run_in_the_contracts_order(
        api: Transport, keys: Keys, world: World, caller: str,
        call: Callable[[Transport, World, str | None], Answer], code: int, field: str | None) -> None:
    with appends_nothing(api, keys):
        refused(call(api, world, caller_key(keys, caller)), code, api, field)


# --- idempotency: a retry with the same key and request replays the first answer, over either transport


WRITES: dict[str, Callable[[Transport, str, str, str | None], Answer]] = {
    # (transport, writer key, job id, idempotency key)
    "upsert": lambda a, key, job_id, idem: a.upsert({"jobId": job_id, "status": PENDING, "agentId": {"uuid": "a"}},
                                                    {"status": True, "agentId": True}, key=key,
                                                    **_idempotent(idem)),
    "fail": lambda a, key, job_id, idem: a.fail(job_id, {"terminationReason": GENERIC, "errorMsg": "disk full",
                                                         "jobType": IMAGE}, key=key, **_idempotent(idem)),
    "cancel": lambda a, key, job_id, idem: a.request_cancellation(job_id, key=key, **_idempotent(idem)),
    "finalize": lambda a, key, job_id, idem: a.finalize_cancellation(job_id, key=key, **_idempotent(idem)),
}


def _idempotent(idempotency_key: str | None) -> dict[str, str]:
    return {} if idempotency_key is None else {"idempotency_key": idempotency_key}


def ready_for(api: Transport, key: str, route: str) -> str:
    job_id = unique(f"idem-{route}")
    accepted(api.upsert({"jobId": job_id, "jobType": IMAGE}, key=key))
    if route == "finalize":
        accepted(api.request_cancellation(job_id, key=key))
    return job_id


def same_answer(first: Answer, again: Answer) -> None:
    assert (again.code, again.body, again.message, again.position) == \
        (first.code, first.body, first.message, first.position)
    assert again.replayed and not first.replayed


@pytest.mark.parametrize("route", list(WRITES))
def test_a_retry_with_the_same_key_replays_the_first_answer_and_appends_nothing(
        api: Transport, keys: Keys, route: str) -> None:
    job_id, idem = ready_for(api, keys.writer, route), unique("idem-key")
    first = accepted(WRITES[route](api, keys.writer, job_id, idem))
    assert first.position is not None
    events = history_types(api, keys.auditor, job_id)
    for _ in range(2):
        same_answer(first, WRITES[route](api, keys.writer, job_id, idem))
    assert history_types(api, keys.auditor, job_id) == events


@pytest.mark.parametrize("route", list(WRITES))
def test_a_retry_over_the_other_transport_is_the_same_request_and_is_replayed(
        api: Transport, other: Transport, keys: Keys, route: str) -> None:
    job_id, idem = ready_for(api, keys.writer, route), unique("idem-key")
    first = accepted(WRITES[route](api, keys.writer, job_id, idem))
    events = history_types(api, keys.auditor, job_id)
    same_answer(first, WRITES[route](other, keys.writer, job_id, idem))
    assert history_types(api, keys.auditor, job_id) == events


def test_the_same_key_with_another_request_is_already_exists_on_either_transport(
        api: Transport, other: Transport, keys: Keys) -> None:
    job_id, idem = ready_for(api, keys.writer, "upsert"), unique("idem-key")
    accepted(WRITES["upsert"](api, keys.writer, job_id, idem))
    events = history_types(api, keys.auditor, job_id)
    with appends_nothing(api, keys):
        for client in (api, other):
            clash = refused(client.upsert({"jobId": job_id, "agentId": {"uuid": "b"}}, {"agentId": True},
                                          key=keys.writer, idempotency_key=idem), ALREADY_EXISTS)
            assert idem in clash.message and not clash.replayed
            refused(client.request_cancellation(job_id, key=keys.writer, idempotency_key=idem), ALREADY_EXISTS)
    assert history_types(api, keys.auditor, job_id) == events


def test_a_failed_command_replays_its_error_even_once_it_would_succeed(
        api: Transport, other: Transport, keys: Keys) -> None:
    job_id, idem = ready_for(api, keys.writer, "cancel"), unique("idem-key")
    first = refused(WRITES["finalize"](api, keys.writer, job_id, idem), FAILED_PRECONDITION)
    accepted(api.request_cancellation(job_id, key=keys.writer))  # now finalizing would succeed...
    for client in (api, other):
        same_answer(first, WRITES["finalize"](client, keys.writer, job_id, idem))  # ...but a retry gets the error
    assert history_types(api, keys.auditor, job_id) == ["Created", "CancellationRequested"]


def test_an_invalid_request_replays_the_invalid_argument_each_transport_gives(
        api: Transport, other: Transport, keys: Keys, world: World) -> None:
    def invalid(client: Transport, idem: str | None) -> Answer:
        return client.upsert({"jobId": world.running, "status": UNKNOWN_ENUM}, {"status": True}, key=keys.writer,
                             **_idempotent(idem))

    idem = unique("idem-key")
    first = refused(invalid(api, idem), INVALID_ARGUMENT, api, "job.status")
    same_answer(first, invalid(api, idem))
    elsewhere = invalid(other, idem)
    assert elsewhere.replayed
    assert (elsewhere.code, elsewhere.message) == (INVALID_ARGUMENT, invalid(other, None).message)


NUL = "\x00"


def test_a_nul_character_in_any_text_is_invalid_argument_naming_the_field_and_stores_nothing(
        api: Transport, keys: Keys, world: World) -> None:
    """PostgreSQL cannot keep U+0000 in text: a job holding one once stopped the projections for good."""
    job_id = unique("nul")
    writes = [
        (lambda: api.upsert({"jobId": job_id, "jobType": IMAGE, "agentId": {"uuid": f"a{NUL}b"}}, key=keys.writer),
         "job.agentId.uuid"),
        (lambda: api.upsert(stress_job(job_id, project=f"p{NUL}"), key=keys.writer),
         "job.jobData.stress.projectId.uuid"),
        (lambda: api.upsert({"jobId": world.running, "jobData": {"stress": {"testRunId": NUL}}},
                            {"jobData": {"stress": {"testRunId": True}}}, key=keys.writer),
         "job.jobData.stress.testRunId"),
        (lambda: api.fail(world.running, {"terminationReason": GENERIC, "errorMsg": f"out of memory{NUL}"},
                          key=keys.writer), "errorMsg"),
    ]
    with appends_nothing(api, keys):
        for write, field in writes:
            refused(write(), INVALID_ARGUMENT, api, field)
    for read, field in ((lambda: api.list_jobs(agent=f"a{NUL}", key=keys.reader), "agentId.uuid"),
                        (lambda: api.list_jobs_for_project(f"p{NUL}", key=keys.reader), "projectId")):
        answer = refused(read(), INVALID_ARGUMENT, api, field)
        assert "NUL" in answer.message, answer.message


def test_a_caller_without_the_role_leaves_the_idempotency_key_unused(
        api: Transport, other: Transport, keys: Keys) -> None:
    job_id, idem = ready_for(api, keys.writer, "upsert"), unique("idem-key")
    refused(WRITES["upsert"](api, keys.reader, job_id, idem), PERMISSION_DENIED)
    ran = accepted(WRITES["upsert"](other, keys.writer, job_id, idem))
    assert ran.position is not None and ran.job["status"] == PENDING


# --- minPosition: read your writes


def test_every_read_at_a_writes_position_shows_the_write(api: Transport, keys: Keys) -> None:
    job_id, project, agent = unique("ryw"), unique("project"), unique("agent")
    accepted(api.upsert(stress_job(job_id, project, status=PENDING, agentId={"uuid": agent}), key=keys.writer))
    move(api, keys.writer, job_id, RUNNING)
    done = move(api, keys.writer, job_id, SUCCEEDED).position
    assert done is not None
    for reader in (keys.reader, keys.auditor, keys.admin):
        assert accepted(api.get_job(job_id, key=reader, min_position=done)).job["status"] == SUCCEEDED
        for page in (api.list_jobs(agent=agent, key=reader, min_position=done),
                     api.list_jobs_for_project(project, key=reader, min_position=done)):
            assert [job["status"] for job in accepted(page).body["jobs"]] == [SUCCEEDED]
        assert accepted(api.get_test_run_id(job_id, key=reader, min_position=done)).body == \
            {"testRunId": f"run-of-{job_id}"}
        assert accepted(api.get_project_id(job_id, key=reader, min_position=done)).body == \
            {"projectId": {"uuid": project}}
    head = probe(api, keys.writer)
    assert accepted(api.get_job(job_id, key=keys.reader, min_position=head)).position == head
    refused(api.get_job(job_id, key=keys.reader, min_position=head + 1), OUT_OF_RANGE)


def test_every_read_says_the_position_its_view_stood_at(api: Transport, keys: Keys) -> None:
    """The position a read answers with is the one its view held when read (here, with no other writer, the
    write just made), so that a client can watch from it; a read that finds no job, or refuses one, says it too."""
    job_id, project, agent = unique("where"), unique("project"), unique("agent")
    accepted(api.upsert(stress_job(job_id, project, status=PENDING, agentId={"uuid": agent}), key=keys.writer))
    written = move(api, keys.writer, job_id, RUNNING).position
    assert written is not None
    reads = {
        "GetJob": lambda: api.get_job(job_id, key=keys.reader, min_position=written),
        "GetJob FULL": lambda: api.get_job(job_id, view=FULL, key=keys.reader, min_position=written),
        "ListJobs": lambda: api.list_jobs(agent=agent, key=keys.reader, min_position=written),
        "ListJobsForProject": lambda: api.list_jobs_for_project(project, key=keys.reader, min_position=written),
        "an empty page": lambda: api.list_jobs(agent=unique("nobody"), key=keys.reader, min_position=written),
        "GetProjectID": lambda: api.get_project_id(job_id, key=keys.reader, min_position=written),
    }
    for name, read in reads.items():
        assert accepted(read()).position == written, name
    for answer in (refused(api.get_job(unique("absent"), key=keys.reader, min_position=written), NOT_FOUND),
                   refused(api.get_test_run_id(job_id, key=keys.reader, min_position=written), FAILED_PRECONDITION)):
        assert answer.position == written
    later = move(api, keys.writer, job_id, SUCCEEDED).position
    assert later is not None and later > written
    assert accepted(api.get_test_run_id(job_id, key=keys.reader, min_position=later)).position == later


@pytest.fixture(scope="module")
def stalled(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Transport], str]]:
    """A server of its own whose views never move (--no-projections and no worker), on `server`'s backend."""
    backend = "postgres" if "JOBSTORE_DATABASE_URL" in server.env else "sqlite"
    with store_location(backend) as (url, schema):
        frozen = Server(Path(tmp_path_factory.mktemp("stalled")), url, schema,
                        serve_args=("--no-projections",)).start()
        made = {name: transport(name, frozen) for name in TRANSPORTS}
        try:
            yield made, frozen.key("admin")
        finally:
            for client in made.values():
                client.close()
            frozen.stop()


def test_a_read_whose_views_do_not_reach_its_position_in_time_is_deadline_exceeded(
        stalled: tuple[dict[str, Transport], str]) -> None:
    """Over both transports at once (each waits its 5 s), rather than one after the other."""
    clients, admin = stalled
    written = accepted(clients["http"].upsert({"jobId": unique("unseen"), "jobType": IMAGE}, key=admin))
    with ThreadPoolExecutor(len(clients)) as pool:
        answers = list(pool.map(lambda client: client.list_jobs(key=admin, min_position=written.position),
                                clients.values()))
    for answer in answers:
        refused(answer, DEADLINE_EXCEEDED)
        assert str(written.position) in answer.message
