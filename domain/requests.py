"""JobManager's requests, validated here and nowhere else: a request that cannot be constructed from what a
client sent is INVALID_ARGUMENT naming the field, before any job is loaded. What depends on the stored job
(its type, its status) is the aggregate's to check."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self, TypeVar

import jiter
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from jobstore.domain.enums import JOB_DATA_KEY, JobStatus, JobType, TerminationReason
from jobstore.domain.errors import InvalidArgument
from jobstore.domain.values import ArchivedJobLogs, JobId, JobMetadata, Text, WriteMask

M = TypeVar("M", bound=BaseModel)
NO_MASK = WriteMask()
# The mask bits of top-level fields and the field each one writes.
MASKED_FIELDS = {"status": "status", "termReason": "terminationReason", "agentId": "agentId",
                 "archivedJobLogs": "archivedJobLogs"}


class Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class UpsertJobRequest(Request):
    """UpsertJobRequest: create a job from every field present, or write the masked fields of an existing one."""

    job: JobMetadata
    write_mask: WriteMask | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        job, mask = self.job, self.mask
        if job.job_id is None:
            raise InvalidArgument("job.jobId", "is required")
        if job.status is JobStatus.CANCELLED:
            raise InvalidArgument("job.status", "JOB_STATUS_CANCELLED is reached only through a cancellation "
                                                "request (CancelJob), then FinalizeCancellation")
        wire = job.wire()
        carried = {"status": job.status not in (None, JobStatus.UNSPECIFIED),
                   "termReason": job.termination_reason not in (None, TerminationReason.UNSPECIFIED),
                   "agentId": "agentId" in wire, "archivedJobLogs": "archivedJobLogs" in wire}
        for bit, is_set in mask.wire().items():
            if bit in carried and is_set and not carried[bit]:
                raise InvalidArgument(f"writeMask.{bit}", f"is set but the request carries no job.{MASKED_FIELDS[bit]}")
        for kind, field in mask.job_data_fields:
            if field not in wire.get("jobData", {}).get(kind, {}):
                raise InvalidArgument(f"writeMask.jobData.{kind}.{field}",
                                      f"is set but the request carries no job.jobData.{kind}.{field}")
        if job.job_type not in (None, JobType.UNSPECIFIED):
            assert job.job_type is not None
            check_job_data_kinds(self, job.job_type)
        return self

    @property
    def mask(self) -> WriteMask:
        return self.write_mask or NO_MASK

    @property
    def job_id(self) -> JobId:
        assert self.job.job_id is not None, "checked when the request was made"
        return self.job.job_id


def check_job_data_kinds(request: UpsertJobRequest, job_type: JobType) -> None:
    """jobData in the request and in its mask may only name the key that belongs to `job_type`."""
    expected = JOB_DATA_KEY[job_type]
    for kind in request.job.wire().get("jobData", {}):
        if kind != expected:
            raise InvalidArgument(f"job.jobData.{kind}", f"does not match the job's type {job_type.value} "
                                  + (f"(its data goes in jobData.{expected})" if expected else "(it carries no data)"))
    for kind, _field in request.mask.job_data_fields:
        if kind != expected:
            raise InvalidArgument(f"writeMask.jobData.{kind}", f"does not match the job's type {job_type.value}")


class FailJobRequest(Request):
    """FailJobRequest: the reason is required and not UNSPECIFIED; the message is the user's to read. The job's
    type, when given, must be the job's (as the published gRPC request carries it); archived logs, when given,
    are written with the failure."""

    termination_reason: TerminationReason | None = None
    error_msg: Text | None = None
    job_type: JobType | None = None
    archived_job_logs: ArchivedJobLogs | None = None

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.termination_reason in (None, TerminationReason.UNSPECIFIED):
            raise InvalidArgument("terminationReason", "is required and must not be UNSPECIFIED")
        return self

    @property
    def reason(self) -> TerminationReason:
        assert self.termination_reason is not None, "checked when the request was made"
        return self.termination_reason


class FinalizeCancellationRequest(Request):
    """FinalizeCancellationRequest: nothing but, optionally, the job's type, which must then be the job's."""

    job_type: JobType | None = None


def check_job_type(field: str, given: JobType | None, job_id: str, stored: JobType) -> None:
    """A job's type never changes: a request that names one must name the stored one."""
    if given is not None and given is not stored:
        raise InvalidArgument(field, f"a job's type never changes: job {job_id!r} is {stored.value}, the request "
                                     f"says {given.value}")


def decode_body(body: bytes) -> Any:
    """A request body as strict JSON: UTF-8, no NaN or Infinity, no key twice in one object at any depth;
    anything else is INVALID_ARGUMENT. (A number too large for a float decodes as infinity, which every field
    refuses.)"""
    try:
        return jiter.from_json(body, allow_inf_nan=False, catch_duplicate_keys=True)
    except ValueError as error:
        raise InvalidArgument("body", _json_problem(body, str(error))) from None


def _json_problem(body: bytes, detail: str) -> str:
    try:
        body.decode()
    except UnicodeDecodeError as error:
        return f"must be JSON encoded in UTF-8 (byte {error.start} is not UTF-8)"
    if b"\0" in body:
        return "must be JSON encoded in UTF-8 (it holds NUL bytes, as UTF-16 and UTF-32 do)"
    if detail.startswith("Detected duplicate key"):
        return f"names a key twice in one object ({detail.removeprefix('Detected ')})"
    try:
        jiter.from_json(body, allow_inf_nan=True, catch_duplicate_keys=True)
    except ValueError:
        return f"is not valid JSON ({detail})"
    return f"holds NaN or Infinity, which are not JSON numbers ({detail})"


_QUOTED = re.compile(r"'([^']*)'")


def parse_request(model: type[M], data: object) -> M:
    """`data` (decoded JSON) as a `model`; anything wrong with it is INVALID_ARGUMENT naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid_argument(error.errors()) from None
    except RecursionError:
        raise InvalidArgument("body", "JSON is nested too deeply") from None


def invalid_argument(errors: Sequence[Any]) -> InvalidArgument:
    """The first of pydantic's validation errors as INVALID_ARGUMENT naming the field (dotted, camelCase)."""
    first = errors[0]
    problem = str(first.get("msg", "is invalid"))
    if first.get("type") == "extra_forbidden":
        problem = "is not a field of this request"
    elif first.get("type") == "missing":
        problem = "is required"
    elif first.get("type") == "enum":  # worded as the query parameters' enums are: what was sent, then the names
        names = _QUOTED.findall(str(first.get("ctx", {}).get("expected", "")))
        problem = f"{first.get('input')!r} is not one of {', '.join(names)}"
    location = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return InvalidArgument(".".join(location) or "body", problem)
