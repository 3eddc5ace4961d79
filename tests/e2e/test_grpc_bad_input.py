"""Whatever bytes reach a gRPC method, the server answers with a status that says what was wrong (never UNKNOWN or
INTERNAL, the gRPC face of a 5xx), stores nothing for a call it refuses, and goes on serving: truncated requests,
random bytes and random messages, messages over 1 MiB, enum numbers the .proto does not know, and deadlines of
1 ms, for every method of rime.JobManager, rime.JobReader and jobstore.v1.Audit.

The calls go through the raw channel (bytes in, bytes out), so that bytes which are no message reach the server
as they are. After each call the log is read past its known head: a refused call must have appended nothing."""
from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.rpc import status_pb2

from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok, upsert
from tests.protobuf_wire import varint

SERVICES = (rime.DESCRIPTOR.services_by_name["JobManager"], rime.DESCRIPTOR.services_by_name["JobReader"],
            v1.DESCRIPTOR.services_by_name["Audit"])
METHODS = {f"/{service.full_name}/{method.name}": method for service in SERVICES for method in service.methods}
WRITES = {"/rime.JobManager/UpsertJob", "/rime.JobManager/FailJob", "/rime.JobManager/FinalizeCancellation",
          "/rime.JobReader/CancelJob"}
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}
MAX_MESSAGE_BYTES = 1024 * 1024
UNKNOWN_ENUM_NUMBERS = (99, -7)
RANDOM_CALLS = 20  # per method: as many random byte strings, and as many random messages


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str
    status: status_pb2.Status | None  # grpc-status-details-bin


class Caller:
    """Calls a method with raw bytes, and checks what the log holds after each call."""

    def __init__(self, server: Server, keys: Keys, channel: grpc.Channel) -> None:
        self.server, self.keys, self.channel = server, keys, channel
        self.head = 0
        self.catch_up()
        self.log_from = len(server.log())

    def send(self, path: str, raw: bytes, timeout: float = 30, metadata: tuple[tuple[str, str], ...] = ()
             ) -> Answer:
        sent = (("rime-api-key", self.keys.admin), *metadata)
        try:
            if METHODS[path].server_streaming:
                list(self.channel.unary_stream(path)(raw, timeout=timeout, metadata=sent))
            else:
                self.channel.unary_unary(path)(raw, timeout=timeout, metadata=sent)
        except grpc.RpcError as error:
            call: Any = error
            trailing = dict(call.trailing_metadata() or ())
            details = trailing.get("grpc-status-details-bin")
            status = status_pb2.Status.FromString(details) if details is not None else None
            return Answer(call.code(), call.details() or "", status)
        return Answer(grpc.StatusCode.OK, "", None)

    def events_after(self, position: int) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        while True:
            page = ok(self.server.call("GET", f"/v1/events?afterPosition={position}&limit=1000",
                                       key=self.keys.auditor)).body["events"]
            if not page:
                return events
            events.extend(page)
            position = page[-1]["position"]

    def catch_up(self) -> None:
        """Known head := the log's head (after writes made on purpose)."""
        appended = self.events_after(self.head)
        if appended:
            self.head = appended[-1]["position"]

    def answered_cleanly(self, path: str, raw: bytes, answer: Answer) -> None:
        """Not a 5xx; and a refused call appended nothing (an accepted one may have)."""
        assert answer.code not in NEVER, (path, raw[:80], answer)
        if answer.status is not None:
            assert (answer.status.code, answer.status.message) == (answer.code.value[0], answer.details), answer
        appended = self.events_after(self.head)
        if answer.code != grpc.StatusCode.OK:
            assert appended == [], f"{path} refused {raw[:80]!r} ({answer.code.name}) yet stored {appended}"
        elif appended:
            self.head = appended[-1]["position"]

    def call_cleanly(self, path: str, raw: bytes, **options: Any) -> Answer:
        answer = self.send(path, raw, **options)
        self.answered_cleanly(path, raw, answer)
        return answer

    def still_serving(self) -> None:
        """The process lives, answers, and logged no crash."""
        assert self.server.process is not None and self.server.process.poll() is None, self.server.log()
        assert self.send("/rime.JobReader/GetJob", b"").code == grpc.StatusCode.INVALID_ARGUMENT  # no job_id
        assert self.server.call("GET", "/healthz").status == 200
        logged = self.server.log()[self.log_from:]
        assert "Traceback" not in logged and "internal error" not in logged, logged


@dataclass(frozen=True)
class Jobs:
    """Jobs the valid requests name: a running stress test (read, failed, cancelled), a succeeded one (its test
    run id), and one whose cancellation was requested (finalized)."""

    running: str
    succeeded: str
    cancelling: str


def create_jobs(server: Server, keys: Keys) -> Jobs:
    running, succeeded, cancelling = unique("bad-input"), unique("bad-input"), unique("bad-input")
    for job_id in (running, succeeded):
        ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                        "status": "JOB_STATUS_PENDING",
                                        "jobData": {"stress": {"projectId": {"uuid": "p-bad"}, "testRunId": "r-1"}}}))
        ok(upsert(server, keys.writer, {"jobId": job_id, "status": "JOB_STATUS_RUNNING"}, {"status": True}))
    ok(upsert(server, keys.writer, {"jobId": succeeded, "status": "JOB_STATUS_SUCCEEDED"}, {"status": True}))
    ok(upsert(server, keys.writer, {"jobId": cancelling, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
    ok(server.call("POST", f"/v1/jobs/cancel/{cancelling}", key=keys.writer))
    return Jobs(running, succeeded, cancelling)


def valid_request(path: str, jobs: Jobs) -> Message:
    """A request the method accepts, with as many of its fields set as make sense together."""
    progress = rime.StressTestJobProgress(test_run=rime.TestRunProgress(
        test_run_id="r-1", status=rime.TEST_TASK_STATUS_RUNNING,
        test_batches=[rime.TestRunProgress.TestBatchProgress(type="drift", status=rime.TEST_TASK_STATUS_PENDING)]))
    logs = rime.ArchivedJobLogs(url=rime.SafeURL(url="https://logs.example/a.tgz"))
    logs.expiration_time.FromJsonString("2030-01-02T03:04:05.678Z")
    query = {"selected_statuses": [rime.JOB_STATUS_RUNNING], "selected_types": [rime.JOB_TYPE_MODEL_STRESS_TEST],
             "selected_termination_reasons": [rime.TERMINATION_REASON_OOMKILLED]}
    requests: dict[str, Message] = {
        "/rime.JobManager/UpsertJob": rime.UpsertJobRequest(
            job_id=unique("bad-input"), job_type=rime.JOB_TYPE_MODEL_STRESS_TEST, status=rime.JOB_STATUS_PENDING,
            job_data=rime.JobData(stress=rime.JobData.StressTest(project_id=rime.UUID(uuid="p-bad"), test_run_id="r-1",
                                                                 progress=progress)),
            agent_id=rime.UUID(uuid="agent-bad"), archived_job_logs=logs),
        "/rime.JobManager/FailJob": rime.FailJobRequest(
            job_id=jobs.running, job_type=rime.JOB_TYPE_MODEL_STRESS_TEST,
            term_reason=rime.TERMINATION_REASON_GENERIC_ERROR, error_msg="it broke", archived_job_logs=logs),
        "/rime.JobManager/FinalizeCancellation": rime.FinalizeCancellationRequest(
            job_id=jobs.cancelling, job_type=rime.JOB_TYPE_IMAGE_BUILDER),
        "/rime.JobReader/ListJobs": rime.ListJobsRequest(
            page_size=5, view=rime.JOB_VIEW_FULL,
            first_page_query=rime.ListJobsRequest.Query(agent_id="agent-bad", **query)),
        "/rime.JobReader/GetJob": rime.GetJobRequest(job_id=jobs.running, view=rime.JOB_VIEW_FULL),
        "/rime.JobReader/CancelJob": rime.CancelJobRequest(job_id=jobs.running),
        "/rime.JobReader/GetTestRunID": rime.GetTestRunIDRequest(job_id=jobs.succeeded),
        "/rime.JobReader/GetProjectID": rime.GetProjectIDRequest(job_id=jobs.running),
        "/rime.JobReader/ListJobsForProject": rime.ListJobsForProjectRequest(
            project_id=rime.UUID(uuid="p-bad"), page_size=5, view=rime.JOB_VIEW_FULL,
            first_page_query=rime.ListJobsForProjectRequest.Query(**query)),
        "/jobstore.v1.Audit/ListJobEvents": v1.ListJobEventsRequest(job_id=jobs.running, after_version=1),
        "/jobstore.v1.Audit/GetJobAsItWas": v1.GetJobAsItWasRequest(job_id=jobs.running, view=rime.JOB_VIEW_FULL,
                                                                    version=1),
        "/jobstore.v1.Audit/StreamLog": v1.StreamLogRequest(after_position=1),
        "/jobstore.v1.Audit/GetCheckpoint": v1.GetCheckpointRequest(),
        "/jobstore.v1.Audit/GetInclusionProof": v1.GetInclusionProofRequest(position=1),
        "/jobstore.v1.Audit/GetConsistencyProof": v1.GetConsistencyProofRequest(from_size=1),
    }
    assert set(requests) == set(METHODS), "a valid request for every method"
    return requests[path]


@pytest.fixture
def channel(server: Server) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.grpc_target) as opened:
        yield opened


@pytest.fixture
def caller(server: Server, keys: Keys, channel: grpc.Channel) -> Iterator[Caller]:
    checked = Caller(server, keys, channel)
    yield checked
    checked.still_serving()


@pytest.fixture
def jobs(server: Server, keys: Keys, caller: Caller) -> Jobs:
    created = create_jobs(server, keys)
    caller.catch_up()
    return created


every_method = pytest.mark.parametrize("path", sorted(METHODS))


@every_method
def test_the_valid_request_is_accepted(caller: Caller, jobs: Jobs, path: str) -> None:
    """The baseline the other tests cut and twist."""
    answer = caller.call_cleanly(path, valid_request(path, jobs).SerializeToString())
    assert answer.code == grpc.StatusCode.OK, answer


@every_method
def test_every_truncation_of_a_valid_request_is_answered_cleanly(caller: Caller, jobs: Jobs, path: str) -> None:
    raw = valid_request(path, jobs).SerializeToString()
    codes = {caller.call_cleanly(path, raw[:length]).code for length in range(len(raw))}
    if len(raw) > 2:
        assert grpc.StatusCode.INVALID_ARGUMENT in codes, "a cut inside a field is no message"


@every_method
def test_random_bytes_are_answered_cleanly(caller: Caller, path: str) -> None:
    rng = random.Random(f"bytes {path}")
    for _ in range(RANDOM_CALLS):
        caller.call_cleanly(path, rng.randbytes(rng.randrange(1, 96)))


@every_method
def test_random_messages_are_answered_cleanly(caller: Caller, path: str) -> None:
    """Messages that decode, with values at the edges of their types in any combination (open enums,
    timestamps out of range, odd strings, integers at their limits...)."""
    rng = random.Random(f"messages {path}")
    request_class = message_factory.GetMessageClass(METHODS[path].input_type)
    for _ in range(RANDOM_CALLS):
        message = request_class()
        fill(message, rng)
        caller.call_cleanly(path, message.SerializeToString())


@every_method
def test_a_message_over_1_mib_is_resource_exhausted(caller: Caller, jobs: Jobs, path: str) -> None:
    padding = b"x" * MAX_MESSAGE_BYTES
    unknown_field = varint(1000 << 3 | 2) + varint(len(padding)) + padding  # field 1000, length-delimited
    answer = caller.call_cleanly(path, valid_request(path, jobs).SerializeToString() + unknown_field)
    assert answer.code == grpc.StatusCode.RESOURCE_EXHAUSTED, answer


def is_enum(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_ENUM


def is_time(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.full_name == "google.protobuf.Timestamp"


def paths_to(wanted: Callable[[FieldDescriptor], bool], descriptor: Descriptor, prefix: str = ""
             ) -> Iterator[str]:
    """Every field reachable in the message for which `wanted` holds, as its dotted path ("0" for a repeated
    message's first element)."""
    for field in descriptor.fields:
        if wanted(field):
            yield prefix + field.name
        elif field.message_type is not None and not field.message_type.full_name.startswith("google."):
            step = f"{prefix}{field.name}." + ("0." if field.is_repeated else "")
            yield from paths_to(wanted, field.message_type, step)


ENUM_FIELDS = [(path, field) for path, method in sorted(METHODS.items())
               for field in paths_to(is_enum, method.input_type)]
TIME_FIELDS = [(path, field) for path, method in sorted(METHODS.items())
               for field in paths_to(is_time, method.input_type)]


def test_the_requests_enum_and_time_fields_are_all_found() -> None:
    assert ("/rime.JobManager/UpsertJob", "job_data.continuous_inc.progress.test_runs.0.test_run.test_batches.0.status"
            ) in ENUM_FIELDS
    assert ("/rime.JobReader/ListJobs", "first_page_query.selected_termination_reasons") in ENUM_FIELDS
    assert {path for path, _ in ENUM_FIELDS} == set(METHODS) - {
        "/rime.JobReader/CancelJob", "/rime.JobReader/GetTestRunID", "/rime.JobReader/GetProjectID",
        "/jobstore.v1.Audit/ListJobEvents", "/jobstore.v1.Audit/StreamLog", "/jobstore.v1.Audit/GetCheckpoint",
        "/jobstore.v1.Audit/GetInclusionProof", "/jobstore.v1.Audit/GetConsistencyProof"}
    assert TIME_FIELDS == [
        ("/rime.JobManager/FailJob", "archived_job_logs.expiration_time"),
        ("/rime.JobManager/UpsertJob", "job_data.continuous_inc.progress.test_runs.0.bin_start_time"),
        ("/rime.JobManager/UpsertJob", "job_data.continuous_inc.progress.test_runs.0.bin_end_time"),
        ("/rime.JobManager/UpsertJob", "archived_job_logs.expiration_time")]


def request_reaching(path: str, field: str, jobs: Jobs) -> Any:
    """The method's valid request, of the job type whose data holds `field`."""
    request: Any = valid_request(path, jobs)
    if field.startswith("job_data.continuous_inc"):
        request.job_type = rime.JOB_TYPE_FIREWALL_BATCH_TEST
        request.job_data.ClearField("stress")
    return request


@pytest.mark.parametrize("number", UNKNOWN_ENUM_NUMBERS)
@pytest.mark.parametrize(("path", "field"), ENUM_FIELDS)
def test_an_unknown_enum_number_is_invalid_argument_naming_the_field(caller: Caller, jobs: Jobs, path: str,
                                                                      field: str, number: int) -> None:
    request = request_reaching(path, field, jobs)
    set_at(request, field.split("."), number)

    answer = caller.call_cleanly(path, request.SerializeToString())

    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT, answer
    assert answer.details.startswith(f"{field}: "), answer.details


@pytest.mark.parametrize(("seconds", "nanos"), [(-62_135_596_801, 0), (253_402_300_800, 0), (2**63 - 1, 0),
                                               (0, -1), (0, 1_000_000_000)])
@pytest.mark.parametrize(("path", "field"), TIME_FIELDS)
def test_a_time_rfc_3339_cannot_write_is_invalid_argument_naming_the_field(caller: Caller, jobs: Jobs, path: str,
                                                                           field: str, seconds: int,
                                                                           nanos: int) -> None:
    """Years 1 to 9999, as the REST API's times; proto3's JSON mapping has no text for the others."""
    request = request_reaching(path, field, jobs)
    time = reach(request, field.split("."))
    time.seconds, time.nanos = seconds, nanos

    answer = caller.call_cleanly(path, request.SerializeToString())

    assert answer.code == grpc.StatusCode.INVALID_ARGUMENT, answer
    assert answer.details.startswith(f"{field}: must be a time from 0001-01-01T00:00:00Z"), answer.details


@every_method
def test_a_1_ms_deadline_leaves_nothing_half_written(caller: Caller, server: Server, keys: Keys, path: str) -> None:
    """The call ends at its deadline (or, if quick enough, answers). A write runs whole or not at all: its retry
    with the same idempotency key then finds exactly one write in the job's history."""
    for _ in range(3):
        jobs = create_jobs(server, keys)
        caller.catch_up()
        request = valid_request(path, jobs)
        job_id = getattr(request, "job_id", "")
        before = len(history(server, keys, job_id))
        key = ("idempotency-key", uuid.uuid4().hex)
        answer = caller.send(path, request.SerializeToString(), timeout=0.001, metadata=(key,))
        assert answer.code in {grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED}, answer
        if path not in WRITES:
            caller.answered_cleanly(path, b"", answer)
            continue
        retried = caller.send(path, request.SerializeToString(), metadata=(key,))
        assert retried.code == grpc.StatusCode.OK, retried
        written = history(server, keys, job_id)
        assert [event["type"] for event in written[before:]] == [EVENT_OF[path]], "written once, and whole"
        caller.catch_up()


EVENT_OF = {"/rime.JobManager/UpsertJob": "Created", "/rime.JobManager/FailJob": "Failed",
            "/rime.JobManager/FinalizeCancellation": "CancellationFinalized",
            "/rime.JobReader/CancelJob": "CancellationRequested"}


def history(server: Server, keys: Keys, job_id: str) -> list[dict[str, Any]]:
    reply = server.call("GET", f"/v1/jobs/{job_id}/events", key=keys.auditor)
    return list(reply.body["events"]) if reply.status == 200 else []


# --- building requests


def reach(message: Any, names: list[str]) -> Any:
    """The message holding the last of `names`, or the message it names, made on the way (a repeated message's
    first element)."""
    for name in names:
        message = (message[0] if len(message) else message.add()) if name == "0" else getattr(message, name)
    return message


def set_at(message: Any, names: list[str], value: int) -> None:
    """Set the enum field at `names` to `value`; a repeated enum gets a known value, then `value`."""
    holder, name = reach(message, names[:-1]), names[-1]
    if holder.DESCRIPTOR.fields_by_name[name].is_repeated:
        del getattr(holder, name)[:]
        getattr(holder, name).extend([1, value])
    else:
        setattr(holder, name, value)


EDGE_INTEGERS = (0, 1, -1, 2, 7, 500, 501, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63))
EDGE_STRINGS = ("", "a", " ", "a b", "a/b", "x" * 129, "x" * 5000, "\x00", "\x7f", "é", "\u2028", "💥", "../..",
                "%00", "job\n", "JOB_STATUS_RUNNING", "2026-01-01T00:00:00Z", "9999-12-31T23:59:59Z",
                "0001-01-01T00:00:00Z", "-1", "null", "{}")
TIMESTAMP_SECONDS = (0, -1, -62135596800, -62135596801, 253402300799, 253402300800, 2**63 - 1, -(2**63))


def fill(message: Any, rng: random.Random, depth: int = 0) -> None:
    """Set a random choice of the message's fields to random values at the edges of their types."""
    for field in message.DESCRIPTOR.fields:
        if rng.random() < 0.4:
            continue
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth > 5:
                continue
            for _ in range(rng.randrange(1, 3) if repeated else 1):
                child = getattr(message, field.name).add() if repeated else getattr(message, field.name)
                if field.message_type.full_name == "google.protobuf.Timestamp":
                    child.seconds = rng.choice(TIMESTAMP_SECONDS)
                    child.nanos = rng.choice((0, 1, 999_999_999, 1_000_000_000, -1))
                else:
                    fill(child, rng, depth + 1)
                    child.SetInParent()
            continue
        values = [scalar(field, rng) for _ in range(rng.randrange(1, 4) if repeated else 1)]
        if repeated:
            getattr(message, field.name).extend(values)
        else:
            setattr(message, field.name, values[0])


def scalar(field: FieldDescriptor, rng: random.Random) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return rng.choice(EDGE_STRINGS)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return rng.random() < 0.5
    if field.type == FieldDescriptor.TYPE_ENUM:
        known = [value.number for value in field.enum_type.values]
        return rng.choice([*known, *UNKNOWN_ENUM_NUMBERS, 2**31 - 1, -(2**31)])
    bits = 64 if field.type == FieldDescriptor.TYPE_INT64 else 32
    return rng.choice([n for n in EDGE_INTEGERS if -(2 ** (bits - 1)) <= n < 2 ** (bits - 1)])
