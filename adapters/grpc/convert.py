"""Between protobuf messages and what the core takes and gives: requests as the JSON the REST API would carry
(proto3's JSON names are the contract's camelCase names, and an unset field is absent), answers back into
messages, and the core's field names in error messages as the gRPC requests name them."""
from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet

from jobstore.adapters.errors import ReplayedError
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.grpc.request_json import as_json, plan
from jobstore.domain.errors import InvalidArgument
from jobstore.projections.columns import FILTERS

_JOB_FIELDS = ("jobId", "jobType", "status", "jobData", "agentId", "archivedJobLogs")
_TIMESTAMP = "google.protobuf.Timestamp"
_SECONDS = range(-62_135_596_800, 253_402_300_800)  # 0001-01-01T00:00:00Z up to 9999-12-31T23:59:59Z
_NANOS = range(1_000_000_000)


def check_request(message: Message, raw: bytes) -> None:
    """What a request decoded from `raw` may not hold, each INVALID_ARGUMENT naming where: a field number its
    message does not define (as an unknown JSON key is in the REST API), and a time RFC 3339 cannot write.

    Unknown fields are found by their bytes: discarding them shrinks the message only when it holds some. That is
    two calls into protobuf's C where looking for them walked every message in the request in Python, and only
    the messages that can hold a time are walked: 3.5 us per UpsertJob of the bench's lifecycles against 14 us.
    A request that holds unknown fields is walked whole, so that the first refusal is the one it always was."""
    sized = message.ByteSize()
    message.DiscardUnknownFields()
    if message.ByteSize() != sized:
        _first_refusal(type(message).FromString(raw))
    _check_times(message)


def _first_refusal(message: Message, path: str = "") -> None:
    """The first of the request's unknown field numbers and times out of range, in the order of its fields."""
    if len(UnknownFieldSet(message)):
        number = UnknownFieldSet(message)[0].field_number
        raise InvalidArgument(path.rstrip(".") or "request", f"holds field number {number}, which "
                              f"{message.DESCRIPTOR.full_name} does not define (the numbers of the published "
                              "fields whose type changed are reserved; see the README's gRPC section)")
    for field, value in message.ListFields():
        if field.message_type is not None:
            _walk_into(field, value, path, _first_refusal)


def _check_times(message: Message, path: str = "") -> None:
    for field in _timed_fields(message.DESCRIPTOR):
        if field.is_repeated or message.HasField(field.name):
            _walk_into(field, getattr(message, field.name), path, _check_times)


def _walk_into(field: FieldDescriptor, value: Any, path: str, walk: Callable[[Message, str], None]) -> None:
    """Check each time `value` is, or `walk` each message it is; a repeated field's elements are numbered."""
    items = enumerate(value) if field.is_repeated else [(None, value)]
    for index, item in items:
        at = f"{path}{field.name}" + ("" if index is None else f".{index}")
        if field.message_type.full_name != _TIMESTAMP:
            walk(item, at + ".")
        else:
            _check_time(item, at)


def _check_time(time: Any, at: str) -> None:
    if time.seconds not in _SECONDS or time.nanos not in _NANOS:
        raise InvalidArgument(at, f"must be a time from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, with nanos "
                                  f"from 0 to 999999999 (got seconds {time.seconds}, nanos {time.nanos})")


@cache
def _timed_fields(descriptor: Descriptor) -> tuple[FieldDescriptor, ...]:
    """The message fields that are times or hold one at some depth, by field number (as ListFields orders them)."""
    return tuple(sorted((field for field in descriptor.fields if _holds_time(field.message_type, set())),
                        key=lambda field: field.number))


def _holds_time(descriptor: Descriptor | None, seen: set[str]) -> bool:
    if descriptor is None or descriptor.full_name in seen:
        return False
    if descriptor.full_name == _TIMESTAMP:
        return True
    seen.add(descriptor.full_name)
    return any(_holds_time(field.message_type, seen) for field in descriptor.fields)


for _request in (rime.UpsertJobRequest, rime.FailJobRequest, rime.FinalizeCancellationRequest):
    plan(_request.DESCRIPTOR)


def upsert_body(request: rime.UpsertJobRequest) -> dict[str, Any]:
    """UpsertJobRequest (flat, as published) as the REST API's `{"job": ..., "writeMask": ...}`."""
    flat = as_json(request)
    job = {name: flat[name] for name in _JOB_FIELDS if name in flat}
    if "termReason" in flat:
        job["terminationReason"] = flat["termReason"]
    body: dict[str, Any] = {"job": job}
    if "mask" in flat:
        body["writeMask"] = flat["mask"]
    masked = request.mask.job_data.continuous_inc
    if masked.ct_test_run_ids and request.job_data.HasField("continuous_inc"):
        # proto3 cannot tell an empty list from none: a masked, empty list in data that is present writes [].
        job["jobData"]["continuousInc"].setdefault("ctTestRunIds", [])
    return body


def fail_body(request: rime.FailJobRequest) -> dict[str, Any]:
    flat = as_json(request)
    body: dict[str, Any] = {name: flat[name] for name in ("jobType", "errorMsg", "archivedJobLogs") if name in flat}
    if "termReason" in flat:
        body["terminationReason"] = flat["termReason"]
    return body


def finalize_body(request: rime.FinalizeCancellationRequest) -> dict[str, Any] | None:
    flat = as_json(request)
    return {"jobType": flat["jobType"]} if "jobType" in flat else None


def enum_name(enum: EnumTypeWrapper, number: int) -> str:
    """An enum value's name; a number the enum does not know, as the number (which the core then refuses)."""
    try:
        return str(enum.Name(number))
    except ValueError:
        return str(number)


def optional_enum_name(enum: EnumTypeWrapper, number: int) -> str | None:
    return None if number == 0 else enum_name(enum, number)


def selected(query: Any) -> dict[str, list[str]]:
    """A list query's repeated enum filters, keyed by the view column each selects on."""
    chosen = {"status": [enum_name(rime.JobStatus, n) for n in query.selected_statuses],
              "job_type": [enum_name(rime.JobType, n) for n in query.selected_types],
              "termination_reason": [enum_name(rime.TerminationReason, n)
                                     for n in query.selected_termination_reasons]}
    assert set(chosen) == set(FILTERS), "every list filter has its repeated field in the .proto"
    return chosen


# --- field names in messages

_RENAMED = {"job.terminationReason": "term_reason", "writeMask": "mask", "terminationReason": "term_reason",
            "minPosition": "x-jobstore-min-position metadata", "Idempotency-Key": "idempotency-key metadata",
            "agentId.uuid": "first_page_query.agent_id", "body": "request",
            "projectId.uuid": "project_id.uuid", "from": "from_size", "to": "to_size"}
_PATH = re.compile(r"\b(?:(?:job|writeMask)(?:\.[A-Za-z]+)+|jobData(?:\.[A-Za-z]+)*|pageToken)\b")
_FIELD = re.compile(r"[A-Za-z][\w.-]*")
_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def proto_path(path: str) -> str:
    """A field as the core names it (the REST API's dotted camelCase path, `job.` prefix and all) as the gRPC
    request names it: job.jobId -> job_id, writeMask.jobData.stress.projectId -> mask.job_data.stress.project_id."""
    for old, new in _RENAMED.items():
        if path == old or path.startswith(old + "."):
            path = new + path[len(old):]
            break
    path = path.removeprefix("job.")
    return ".".join(_CAMEL.sub(r"_\1", part).lower() if " " not in part and "-" not in part else part
                    for part in path.split("."))


def in_proto_terms(error: InvalidArgument) -> InvalidArgument:
    """The same error, its field and the fields its message names spelled as the gRPC request spells them."""
    problem = error.message.removeprefix(f"{error.field}: ") if error.field else error.message
    problem = _PATH.sub(lambda found: proto_path(found.group(0)), problem)
    return InvalidArgument(proto_path(error.field) if error.field else "", problem)


# Headers and parameters of the REST API that messages name in passing, as a gRPC client knows them.
_TERMS = re.compile(r"\b(?:minPosition|X-Jobstore-Position|Idempotency-Key)\b")
_AS_IT_WAS = "(asOf, version)"  # the REST API's parameters for a job as it was: GetJobAsItWas over gRPC
_TERM_NAMES = {"minPosition": "x-jobstore-min-position", "X-Jobstore-Position": "x-jobstore-position trailer",
               "Idempotency-Key": "idempotency-key"}


def with_grpc_names(message: str) -> str:
    """A message that names the REST API's headers or parameters in passing, naming gRPC's metadata instead."""
    return _TERMS.sub(lambda found: _TERM_NAMES[found.group(0)], message.replace(_AS_IT_WAS, "(GetJobAsItWas)"))


# A job's fields as a state's refusal names them in passing; quoted text (a job id) is left as it is.
_JOB_FIELDS_IN_PASSING = re.compile(r"('[^']*'|\"[^\"]*\")|\b("
                                    + "|".join((*_JOB_FIELDS, "terminationReason", "errorMsg")) + r")\b")


def job_fields_in_proto_terms(message: str) -> str:
    """A FAILED_PRECONDITION's message (say, what a request would change on a finished job) naming the job's
    fields as the gRPC messages do."""
    return _JOB_FIELDS_IN_PASSING.sub(lambda found: found.group(1) or proto_path(found.group(2)), message)


def replayed_in_proto_terms(error: ReplayedError) -> ReplayedError:
    """A replayed INVALID_ARGUMENT as the gRPC request names its fields: the idempotency record keeps the message
    as the core wrote it (`field: problem`), whichever transport the first request came over."""
    field, colon, problem = error.message.partition(": ")
    if not (colon and _FIELD.fullmatch(field)):
        field, problem = "", error.message
    return ReplayedError(error.code, in_proto_terms(InvalidArgument(field, problem)).message)
