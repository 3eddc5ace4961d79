"""gRPC and HTTP are one behaviour: random commands sent over either transport, read back over both, show the
same job.

A state machine upserts (creations and masked updates of status, data, progress, agent, logs), fails, cancels and
finalizes a few jobs against a real `jobstore serve`, each command over a transport it picks. Then it sends the
same command again over the other transport: the contract makes a second sending change nothing, so both answers
are the same outcome and must be the same job (or the same error), and the second must write nothing. After each
command the job is read over both transports, BASIC and FULL, from the write's log position on; the lists of the
example's agent and project are read page by page over both.

"The same" means byte for byte after conversion: the gRPC answer through json_format.MessageToDict, and the HTTP
JSON through the same message and back (proto3's JSON mapping: fields at their defaults left out, timestamps in
its digits), both dumped with sorted keys. runningTimeSecs of a job that has started and not ended is derived
when it is read, so there it is compared within a tolerance.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import grpc
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_status import rpc_status
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule, run_state_machine_as_test

from jobstore.adapters.grpc.convert import job_fields_in_proto_terms
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.grpc.protos import rime_jobs_pb2_grpc as rime_grpc
from tests.conftest import BACKENDS
from tests.e2e.conftest import store_location
from tests.e2e.server import Server

JSON = dict[str, Any]
TRANSPORTS = ("grpc", "http")
STATUSES = ["JOB_STATUS_UNSPECIFIED", "JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING",
            "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"]
TYPES = ["JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST", "JOB_TYPE_FILE_SCAN",
         "JOB_TYPE_IMAGE_BUILDER"]
REASONS = ["TERMINATION_REASON_OOMKILLED", "TERMINATION_REASON_GENERIC_ERROR", "TERMINATION_REASON_INTERNAL_ERROR"]
TASK_STATUSES = ["TEST_TASK_STATUS_PENDING", "TEST_TASK_STATUS_RUNNING", "TEST_TASK_STATUS_COMPLETED",
                 "TEST_TASK_STATUS_FAILED"]
DATA_KEY = {"JOB_TYPE_MODEL_STRESS_TEST": "stress", "JOB_TYPE_FIREWALL_BATCH_TEST": "continuousInc",
            "JOB_TYPE_FILE_SCAN": "fileScan"}
MASK_BITS = {"stress": ("projectId", "testRunId", "progress"),
             "continuousInc": ("firewallId", "ctTestRunIds", "progress"),
             "fileScan": ("projectId", "fileScanId")}
# The contract's transitions an upsert makes, but to FAILED (the fail rule's): a copy, to steer updates towards deep
# states (others are tried too).
MOVES = {"JOB_STATUS_REQUESTED": ["JOB_STATUS_PENDING", "JOB_STATUS_RECONCILING"],
         "JOB_STATUS_PENDING": ["JOB_STATUS_RUNNING", "JOB_STATUS_RECONCILING"],
         "JOB_STATUS_RUNNING": ["JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED"],
         "JOB_STATUS_RECONCILING": ["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_SUCCEEDED"]}
RUNNING_TIME_TOLERANCE_SECS = 10.0
EXAMPLES, STEPS = 15, 25


def now_and_then(draw: st.DrawFn, one_in: int) -> bool:
    """True once in `one_in` draws (never in the simplest example, which shrinking heads for)."""
    return bool(draw(st.integers(1, one_in)) == one_in)


# --- what the commands carry: the REST API's JSON (proto3 cannot tell an empty string from none: no "" here)

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=10)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """An RFC 3339 time in one of the spellings clients send: whole seconds, milli-, micro- or nanoseconds,
    Z or an offset."""
    moment = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
    digits = draw(st.sampled_from([0, 3, 6, 9]))
    offset = draw(st.sampled_from([0, 0, 90, -300]))
    local = moment.astimezone(UTC).replace(tzinfo=None) + timedelta(minutes=offset)
    fraction = f"{local.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    zone = "Z" if offset == 0 else f"{'+' if offset > 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + zone


def run_progress(draw: st.DrawFn) -> JSON:
    batches = draw(st.lists(st.fixed_dictionaries({"type": names, "status": st.sampled_from(TASK_STATUSES)}),
                            max_size=3, unique_by=lambda batch: batch["type"]))
    run: JSON = {"testRunId": draw(names), "status": draw(st.sampled_from(TASK_STATUSES))}
    if batches:
        run["testBatches"] = batches
    return run


@st.composite
def job_data(draw: st.DrawFn, key: str, scope: str) -> JSON:
    """Data of the kind `key` names, every field present (a mask picks among them)."""
    project = {"uuid": f"{scope}-p{draw(st.integers(0, 1))}"}
    if key == "stress":
        return {"projectId": project, "testRunId": draw(names),
                "progress": {"testRun": run_progress(draw)}}
    if key == "continuousInc":
        runs = [{"testRun": run_progress(draw), "binStartTime": draw(timestamps()), "binEndTime": draw(timestamps())}
                for _ in range(draw(st.integers(0, 2)))]
        data: JSON = {"firewallId": draw(names), "ctTestRunIds": draw(st.lists(names, max_size=3))}
        if runs:
            data["progress"] = {"testRuns": runs}
        return data
    return {"projectId": project, "fileScanId": draw(names)}


@st.composite
def archived_logs(draw: st.DrawFn) -> JSON:
    return {"url": {"url": f"https://logs.example.com/{draw(names)}.tgz"}, "expirationTime": draw(timestamps())}


@st.composite
def creations(draw: st.DrawFn, job_id: str, scope: str) -> JSON:
    """An upsert of a job that may not exist: every field it carries makes the job (a mask is not needed). Now
    and then it starts in a status a new job cannot have, or carries data of another kind than its type's."""
    job_type = draw(st.sampled_from(TYPES))
    job: JSON = {"jobId": job_id, "jobType": job_type}
    status = draw(st.sampled_from(STATUSES if now_and_then(draw, 8) else
                                  [None, "JOB_STATUS_PENDING", "JOB_STATUS_REQUESTED"]))
    if status is not None:
        job["status"] = status
    key = draw(st.sampled_from(sorted(MASK_BITS))) if now_and_then(draw, 8) else DATA_KEY.get(job_type)
    if key is not None:
        job["jobData"] = {key: draw(job_data(key, scope))}
    if draw(st.booleans()):
        job["agentId"] = {"uuid": f"{scope}-a{draw(st.integers(0, 1))}"}
    if now_and_then(draw, 4):
        job["archivedJobLogs"] = draw(archived_logs())
    return {"job": job}


@st.composite
def updates(draw: st.DrawFn, job_id: str, stored: JSON, scope: str, moving: bool = False) -> JSON:
    """A masked upsert of the job `stored`: some mask bits with the fields they name; its status (always when
    `moving`) usually one the contract's table allows next. Now and then a bit's field is missing, the data is of
    another kind than the job's, or a type is given (all INVALID_ARGUMENT unless the type is the job's)."""
    job: JSON = {"jobId": job_id}
    mask: JSON = {}
    if moving or draw(st.booleans()):
        mask["status"] = True
        moves = MOVES.get(stored["status"])
        job["status"] = draw(st.sampled_from(STATUSES if not moves or now_and_then(draw, 4) else moves))
    if now_and_then(draw, 4):
        mask["termReason"] = True
        job["terminationReason"] = draw(st.sampled_from(REASONS))
    if now_and_then(draw, 3):
        mask["agentId"] = True
        job["agentId"] = {"uuid": f"{scope}-a{draw(st.integers(0, 1))}"}
    if now_and_then(draw, 4):
        mask["archivedJobLogs"] = True
        job["archivedJobLogs"] = draw(archived_logs())
    key = draw(st.sampled_from(sorted(MASK_BITS))) if now_and_then(draw, 10) else DATA_KEY.get(stored["jobType"])
    if key is not None and (draw(st.booleans()) or not mask):
        bits = draw(st.lists(st.sampled_from(MASK_BITS[key]), min_size=1, unique=True))
        mask["jobData"] = {key: dict.fromkeys(bits, True)}
        data = draw(job_data(key, scope))
        job["jobData"] = {key: {name: value for name, value in data.items() if name in bits}}
    if mask and now_and_then(draw, 10):
        dropped = draw(st.sampled_from(sorted(mask)))
        job.pop("terminationReason" if dropped == "termReason" else dropped, None)
    if now_and_then(draw, 10):
        job["jobType"] = draw(st.sampled_from([stored["jobType"], *TYPES]))
    return {"job": job, "writeMask": mask}


# --- the two transports, answering in the same shape


@dataclass
class Outcome:
    """A call's answer: the response as JSON (gRPC's through MessageToDict, HTTP's as sent), or the error's
    googlerpc code and message; and the log position of what a write appended."""

    answer: JSON | None
    code: int = 0
    message: str = ""
    position: int | None = None


class Http:
    def __init__(self, server: Server, key: str) -> None:
        self.server, self.key = server, key

    def _call(self, method: str, path: str, body: Any = None) -> Outcome:
        reply = self.server.call(method, path, body, key=self.key)
        if reply.status != 200:
            assert set(reply.body) == {"code", "message", "details"} and reply.body["details"] == [], reply.body
            return Outcome(None, reply.body["code"], reply.body["message"])
        position = reply.headers.get("x-jobstore-position")
        return Outcome(reply.body, position=None if position is None else int(position))

    def upsert(self, body: JSON) -> Outcome:
        return self._call("POST", "/v1/jobs:upsert", body)

    def fail(self, job_id: str, body: JSON) -> Outcome:
        return self._call("POST", f"/v1/jobs/{job_id}:fail", body)

    def cancel(self, job_id: str) -> Outcome:
        return self._call("POST", f"/v1/jobs/cancel/{job_id}")

    def finalize(self, job_id: str, body: JSON | None) -> Outcome:
        return self._call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", body)

    def get(self, job_id: str, view: str, min_position: int) -> Outcome:
        return self._call("GET", f"/v1/jobs/{job_id}?" + urlencode({"view": view, "minPosition": min_position}))

    def page(self, query: ListQuery, token: str | None) -> Outcome:
        params: list[tuple[str, Any]] = [("view", query.view), ("pageSize", query.size),
                                          ("minPosition", query.min_position)]
        if token is not None:
            params.append(("pageToken", token))
        else:
            params += [("firstPageQuery.selectedStatuses", status) for status in query.statuses]
            if query.agent is not None:
                params.append(("agentId.uuid", query.agent))
        path = "/v1/jobs" if query.project is None else f"/v1/jobs/project/{query.project}"
        return self._call("GET", f"{path}?{urlencode(params)}")


class Grpc:
    def __init__(self, channel: grpc.Channel, key: str) -> None:
        self.manager = rime_grpc.JobManagerStub(channel)
        self.reader = rime_grpc.JobReaderStub(channel)
        self.key = key

    def _call(self, method: Callable[..., Any], request: Message, min_position: int | None = None) -> Outcome:
        metadata = [("rime-api-key", self.key)]
        if min_position is not None:
            metadata.append(("x-jobstore-min-position", str(min_position)))
        try:
            response, call = method.with_call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as error:
            status = rpc_status.from_call(error)
            assert status is not None, f"no grpc-status-details-bin with {error}"
            assert (status.code, status.message) == (error.code().value[0], error.details())
            assert not status.details
            return Outcome(None, status.code, status.message)
        position = dict(call.trailing_metadata()).get("x-jobstore-position")
        return Outcome(json_format.MessageToDict(response), position=None if position is None else int(position))

    def upsert(self, body: JSON) -> Outcome:
        """The REST body as the flat, published UpsertJobRequest: termReason for terminationReason, mask for
        writeMask."""
        flat = dict(body["job"])
        if "terminationReason" in flat:
            flat["termReason"] = flat.pop("terminationReason")
        if "writeMask" in body:
            flat["mask"] = body["writeMask"]
        return self._call(self.manager.UpsertJob, json_format.ParseDict(flat, rime.UpsertJobRequest()))

    def fail(self, job_id: str, body: JSON) -> Outcome:
        flat = {("termReason" if name == "terminationReason" else name): value for name, value in body.items()}
        return self._call(self.manager.FailJob, json_format.ParseDict({"jobId": job_id, **flat},
                                                                      rime.FailJobRequest()))

    def cancel(self, job_id: str) -> Outcome:
        return self._call(self.reader.CancelJob, rime.CancelJobRequest(job_id=job_id))

    def finalize(self, job_id: str, body: JSON | None) -> Outcome:
        return self._call(self.manager.FinalizeCancellation,
                          json_format.ParseDict({"jobId": job_id, **(body or {})}, rime.FinalizeCancellationRequest()))

    def get(self, job_id: str, view: str, min_position: int) -> Outcome:
        return self._call(self.reader.GetJob, rime.GetJobRequest(job_id=job_id, view=rime.JobView.Value(view)),
                          min_position)

    def page(self, query: ListQuery, token: str | None) -> Outcome:
        view = rime.JobView.Value(query.view)
        statuses = [rime.JobStatus.Value(status) for status in query.statuses]
        if query.project is not None:
            project = rime.UUID(uuid=query.project)
            request: Message = (
                rime.ListJobsForProjectRequest(project_id=project, page_size=query.size, view=view, page_token=token)
                if token is not None else rime.ListJobsForProjectRequest(
                    project_id=project, page_size=query.size, view=view,
                    first_page_query=rime.ListJobsForProjectRequest.Query(selected_statuses=statuses)))
            return self._call(self.reader.ListJobsForProject, request, query.min_position)
        if token is not None:
            request = rime.ListJobsRequest(page_size=query.size, view=view, page_token=token)
        else:
            first_page = rime.ListJobsRequest.Query(selected_statuses=statuses)
            if query.agent is not None:
                first_page.agent_id = query.agent
            request = rime.ListJobsRequest(page_size=query.size, view=view, first_page_query=first_page)
        return self._call(self.reader.ListJobs, request, query.min_position)


@dataclass
class ListQuery:
    view: str
    size: int
    statuses: list[str]
    min_position: int
    agent: str | None = None
    project: str | None = None


# --- the same job, after conversion

def converted(answer: JSON, message: type[Message]) -> JSON:
    """An HTTP answer read through the gRPC response message and written back as proto3's JSON."""
    return json_format.MessageToDict(json_format.ParseDict(answer, message()))


def running_times(answer: JSON) -> list[tuple[float, bool]]:
    """Take runningTimeSecs out of each job of the answer: (its value, whether it was derived from the clock)."""
    jobs = [answer["job"]] if "job" in answer else answer.get("jobs", [])
    return [(job.pop("runningTimeSecs", 0.0), "startTime" in job and "completionTime" not in job) for job in jobs]


def assert_same(over_grpc: Outcome, over_http: Outcome, message: type[Message], what: str) -> None:
    assert (over_grpc.code, over_grpc.answer is None) == (over_http.code, over_http.answer is None), \
        f"{what}: gRPC {over_grpc.code} {over_grpc.message!r}, HTTP {over_http.code} {over_http.message!r}"
    if over_grpc.answer is None or over_http.answer is None:
        if over_grpc.code == 9:  # FAILED_PRECONDITION names the job's fields as each transport's messages do
            assert over_grpc.message == job_fields_in_proto_terms(over_http.message), what
        elif over_grpc.code != 3:  # INVALID_ARGUMENT names the field as each transport's request spells it
            assert over_grpc.message == over_http.message, what
        return
    same_answer(over_grpc.answer, converted(over_http.answer, message), what)


def same_answer(one: JSON, other: JSON, what: str) -> None:
    """The same JSON, byte for byte, but for the runningTimeSecs of jobs that are running."""
    one, other = json.loads(json.dumps(one)), json.loads(json.dumps(other))
    for (first, ticking), (second, _) in zip(running_times(one), running_times(other), strict=False):
        if ticking:
            assert abs(first - second) < RUNNING_TIME_TOLERANCE_SECS, f"{what}: runningTimeSecs {first} != {second}"
        else:
            assert first == second, f"{what}: runningTimeSecs {first} != {second}"
    assert json.dumps(one, sort_keys=True) == json.dumps(other, sort_keys=True), what


# --- the machine


class TransportsAgree(RuleBasedStateMachine):
    """Each example acts on jobs of its own (ids, agents and projects under a fresh scope) on a shared server."""

    http: Http
    grpc: Grpc

    def __init__(self) -> None:
        super().__init__()
        self.scope = f"t{uuid.uuid4().hex[:10]}"
        self.job_ids = [f"{self.scope}-j{n}" for n in range(3)]
        self.jobs: dict[str, JSON] = {}  # each job that exists, as BASIC shows it (over gRPC)
        self.position = 0

    def over(self, transport: str) -> tuple[Http | Grpc, Http | Grpc]:
        return (self.grpc, self.http) if transport == "grpc" else (self.http, self.grpc)

    def send_twice(self, transport: str, job_id: str, response: type[Message],
                   command: Callable[[Http | Grpc], Outcome]) -> None:
        """Send the command over `transport`, then again over the other one: the second sending changes nothing
        and answers the same. Then read the job back over both."""
        first, second = self.over(transport)
        sent, resent = command(first), command(second)
        by_transport = {"grpc": sent, "http": resent} if first is self.grpc else {"grpc": resent, "http": sent}
        assert_same(by_transport["grpc"], by_transport["http"], response,
                    f"the answers to one command sent over {transport}, then over the other transport")
        assert resent.position is None, f"sending the command again wrote at {resent.position}: {sent}"
        if sent.position is not None:
            self.position = sent.position
        written = None
        if sent.code == 0 and sent.answer and "job" in sent.answer:
            written = sent.answer if first is self.grpc else converted(sent.answer, response)
        self.read_back(job_id, written)

    def read_back(self, job_id: str, written: JSON | None) -> None:
        """The job over both transports, BASIC and FULL, from the last write's position on; a write's answer is
        the job as BASIC shows it after the write."""
        for view in ("JOB_VIEW_BASIC", "JOB_VIEW_FULL"):
            over_grpc = self.grpc.get(job_id, view, self.position)
            over_http = self.http.get(job_id, view, self.position)
            assert_same(over_grpc, over_http, rime.GetJobResponse, f"GetJob {job_id} {view}")
            if view == "JOB_VIEW_BASIC" and over_grpc.answer is not None:
                self.jobs[job_id] = over_grpc.answer["job"]
            if view == "JOB_VIEW_BASIC" and written is not None:
                assert over_grpc.answer is not None, f"{job_id} was written but cannot be read"
                same_answer(written, over_grpc.answer, "a write's answer is the job as BASIC shows it after the write")

    def existing(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(sorted(self.jobs)), label="job")

    def existing_or_missing(self, data: st.DataObject) -> str:
        """A job that exists; now and then one that does not."""
        return f"{self.scope}-missing" if now_and_then(data.draw, 12) else self.existing(data)

    @initialize(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def start_with_a_job(self, data: st.DataObject, transport: str) -> None:
        self.create(data, transport)

    @precondition(lambda self: len(self.jobs) < len(self.job_ids))
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def create(self, data: st.DataObject, transport: str) -> None:
        """A job that does not exist yet; now and then one that does (no mask: nothing changes)."""
        fresh = [job_id for job_id in self.job_ids if job_id not in self.jobs]
        job_id = data.draw(st.sampled_from(self.job_ids if now_and_then(data.draw, 8) else fresh), label="job")
        body = data.draw(creations(job_id, self.scope), label="upsert")
        self.send_twice(transport, job_id, rime.UpsertJobResponse, lambda over: over.upsert(body))

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def update(self, data: st.DataObject, transport: str) -> None:
        job_id = self.existing(data)
        body = data.draw(updates(job_id, self.jobs[job_id], self.scope), label="upsert")
        self.send_twice(transport, job_id, rime.UpsertJobResponse, lambda over: over.upsert(body))

    @precondition(lambda self: any(job["status"] in MOVES for job in self.jobs.values()))
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def move(self, data: st.DataObject, transport: str) -> None:
        """An update of a job that has not ended, with a status (so that runs reach deep states)."""
        job_id = data.draw(st.sampled_from(sorted(job_id for job_id, job in self.jobs.items()
                                                  if job["status"] in MOVES)), label="job")
        body = data.draw(updates(job_id, self.jobs[job_id], self.scope, moving=True), label="upsert")
        self.send_twice(transport, job_id, rime.UpsertJobResponse, lambda over: over.upsert(body))

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS),
          reason=st.sampled_from([*REASONS, "TERMINATION_REASON_UNSPECIFIED"]),
          message=st.sampled_from([None, "out of memory", "exit 1"]))
    def fail(self, data: st.DataObject, transport: str, reason: str, message: str | None) -> None:
        job_id = self.existing_or_missing(data)
        body: JSON = {"terminationReason": reason}
        if message is not None:
            body["errorMsg"] = message
        if now_and_then(data.draw, 4):
            body["archivedJobLogs"] = data.draw(archived_logs(), label="logs")
        if now_and_then(data.draw, 4):
            body["jobType"] = data.draw(st.sampled_from(TYPES), label="type")
        self.send_twice(transport, job_id, rime.FailJobResponse, lambda over: over.fail(job_id, body))

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def cancel(self, data: st.DataObject, transport: str) -> None:
        job_id = self.existing_or_missing(data)
        self.send_twice(transport, job_id, rime.CancelJobResponse, lambda over: over.cancel(job_id))

    @precondition(lambda self: self.jobs)
    @rule(data=st.data(), transport=st.sampled_from(TRANSPORTS))
    def finalize(self, data: st.DataObject, transport: str) -> None:
        job_id = self.existing_or_missing(data)
        body = {"jobType": data.draw(st.sampled_from(TYPES), label="type")} if now_and_then(data.draw, 4) \
            else None
        self.send_twice(transport, job_id, rime.FinalizeCancellationResponse,
                        lambda over: over.finalize(job_id, body))

    @rule(view=st.sampled_from(["JOB_VIEW_BASIC", "JOB_VIEW_FULL"]), size=st.integers(1, 3),
          statuses=st.lists(st.sampled_from(STATUSES[1:]), max_size=3, unique=True),
          of=st.sampled_from(["a0", "a1", "p0", "p1"]))
    def list_jobs(self, view: str, size: int, statuses: list[str], of: str) -> None:
        """The jobs of one of the example's agents (ListJobs) or projects (ListJobsForProject), filtered by
        status, page by page over both transports; each transport goes on with the token it was given."""
        owner = f"{self.scope}-{of}"
        query = ListQuery(view, size, statuses, self.position, agent=owner if of[0] == "a" else None,
                          project=owner if of[0] == "p" else None)
        response = rime.ListJobsResponse if query.project is None else rime.ListJobsForProjectResponse
        tokens: dict[str, str | None] = {"grpc": None, "http": None}
        for _ in range(len(self.job_ids) + 1):
            over_grpc, over_http = self.grpc.page(query, tokens["grpc"]), self.http.page(query, tokens["http"])
            assert_same(over_grpc, over_http, response, f"a page of {of}'s jobs")
            assert over_grpc.answer is not None and over_http.answer is not None
            tokens = {"grpc": over_grpc.answer.get("nextPageToken"), "http": over_http.answer.get("nextPageToken")}
            if tokens["grpc"] is None:
                return
        raise AssertionError("more pages than jobs")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with store_location(request.param) as (url, schema):
        running = Server(Path(tmp_path_factory.mktemp("serve")), url, schema).start()
        yield running
        running.stop()


def test_commands_over_either_transport_read_back_the_same_over_both(server: Server) -> None:
    key = server.key("writer")
    with grpc.insecure_channel(server.grpc_target) as channel:
        TransportsAgree.http = Http(server, key)
        TransportsAgree.grpc = Grpc(channel, key)
        run_state_machine_as_test(TransportsAgree, settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
