"""Value objects of a job, in the contract's wire shapes (camelCase aliases, enums by name), and the limits and
typed ids every request is held to, declared here once.

They validate what a writer sends; the job document that events carry is their JSON form.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, NewType
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    ValidationInfo,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from jobstore.domain.enums import JobStatus, JobType, TerminationReason, TestTaskStatus
from jobstore.domain.errors import InvalidArgument

MAX_TEXT = 4096
MAX_ITEMS = 10_000
MAX_JOB_ID = 128


def nul_problem(text: str) -> str | None:
    """Why `text` cannot be kept, if it holds a NUL character, which PostgreSQL cannot keep in text; or None."""
    if "\x00" not in text:
        return None
    return (f"must not contain the NUL character (U+0000), which PostgreSQL cannot keep in text (at character "
            f"{text.index(chr(0)) + 1})")


def _without_nul(text: str) -> str:
    problem = nul_problem(text)
    if problem is not None:
        raise PydanticCustomError("nul", problem)
    return text


Text = Annotated[str, Field(max_length=MAX_TEXT), AfterValidator(_without_nul)]


RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})")


def utc_time(text: str) -> datetime:
    """`text`, an RFC 3339 time with an offset or Z, as UTC (to the microsecond); ValueError saying why when it
    is not one."""
    if RFC3339.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace("z", "Z")).astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{text!r} is out of range once converted to UTC") from None
        except ValueError:
            pass  # a month 13, a 30 February...
    raise ValueError(f"{text!r} is not an RFC 3339 time with an offset or Z, e.g. 2026-11-27T18:10:05Z")


def _timestamp(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)  # given in Python, not on the wire
    if not isinstance(value, str):
        raise PydanticCustomError("rfc3339", "must be an RFC 3339 time string, e.g. 2026-11-27T18:10:05Z")
    try:
        return utc_time(value)
    except ValueError as error:
        raise PydanticCustomError("rfc3339", "{problem}", {"problem": str(error)}) from None


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp)]


RESERVED_JOB_IDS = frozenset({"project"})
"""Ids no new job may take: `/v1/jobs/project/...` is ListJobsForProject's route, so a job named `project`
could not reach its own `/events`, `/project-id` and `/test-run-id` routes."""

JobId = NewType("JobId", str)
"""A job id that passed `job_id_problem`: 1 to 128 characters, none of them '/', whitespace or control."""


def job_id_problem(job_id: str) -> str | None:
    """Why `job_id` is not a valid job id, or None when it is."""
    if not 1 <= len(job_id) <= MAX_JOB_ID:
        return f"must be 1 to {MAX_JOB_ID} characters long (got {len(job_id)})"
    if job_id.isascii() and job_id.isprintable() and "/" not in job_id and " " not in job_id:
        return None  # the usual id, checked at once: printable ASCII has no control or whitespace but the space
    for ch in job_id:
        if ch == "/" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            return f"must not contain '/', whitespace or control characters (found {ch!r})"
        if unicodedata.category(ch) == "Cs":
            return f"must be valid Unicode text (found the lone surrogate {ch!r})"
    return None


def parse_job_id(text: str, field: str = "jobId") -> JobId:
    """`text` as a job id; INVALID_ARGUMENT naming `field` when it is not one."""
    problem = job_id_problem(text)
    if problem:
        raise InvalidArgument(field, problem)
    return JobId(text)


def _checked_job_id(text: str) -> JobId:
    problem = job_id_problem(text)
    if problem:
        raise PydanticCustomError("job_id", problem)
    return JobId(text)


JobIdField = Annotated[JobId, AfterValidator(_checked_job_id)]


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True,
                              allow_inf_nan=False)

    @cached_property  # not a pydantic private attribute: reading one of those costs a few microseconds
    def _wire_form(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)

    def wire(self) -> dict[str, Any]:
        """The JSON form as sent on the wire: camelCase, unset fields omitted. Computed once (the model is
        frozen); callers must not change what it returns."""
        return self._wire_form


class RimeUUID(Wire):
    uuid: Text


def _https_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        valid = parts.scheme.lower() == "https" and bool(parts.hostname) and (parts.port is None or parts.port > 0) \
            and not any(ch.isspace() or not ch.isprintable() for ch in url)
    except ValueError:  # a port that is not a number, a bracketed host that is not an IP address
        valid = False
    if not valid:
        raise PydanticCustomError("safe_url", "must be an absolute https URL with a host, e.g. "
                                  "https://logs.example.com/job.tgz (got {url})", {"url": repr(url)})
    return url


class SafeURL(Wire):
    """A link a user may follow: an absolute https URL with a host. Checked on requests only: stored documents
    are not validated again."""

    url: Annotated[Text, AfterValidator(_https_url)]


class ArchivedJobLogs(Wire):
    url: SafeURL | None = None
    expiration_time: Timestamp | None = None


class TestBatchProgress(Wire):
    type: Text | None = None
    status: TestTaskStatus | None = None


class TestRunProgress(Wire):
    test_run_id: Text | None = None
    status: TestTaskStatus | None = None
    test_batches: Annotated[list[TestBatchProgress], Field(max_length=MAX_ITEMS)] | None = None

    @field_validator("test_batches")
    @classmethod
    def _each_batch_once(cls, batches: list[TestBatchProgress] | None,
                         info: ValidationInfo) -> list[TestBatchProgress] | None:
        """(testRunId, type) identify a batch: within one test run, a type appears once."""
        types = [batch.type for batch in batches or ()]
        if len(set(types)) < len(types):
            first, again = _first_repeat(types)
            batch = f"(testRunId {info.data.get('test_run_id')!r}, type {types[first]!r})"
            raise PydanticCustomError("duplicate_batch", "holds the batch {batch} twice (entries {first} and "
                                      "{again}); a batch is reported once", {"batch": batch, "first": first,
                                                                           "again": again})
        return batches


class StressTestJobProgress(Wire):
    test_run: TestRunProgress | None = None


class ContinuousTestRunProgress(Wire):
    test_run: TestRunProgress | None = None
    bin_start_time: Timestamp | None = None
    bin_end_time: Timestamp | None = None


class ContinuousTestJobProgress(Wire):
    test_runs: Annotated[list[ContinuousTestRunProgress], Field(max_length=MAX_ITEMS)] | None = None

    @field_validator("test_runs")
    @classmethod
    def _each_test_run_once(cls, runs: list[ContinuousTestRunProgress] | None
                            ) -> list[ContinuousTestRunProgress] | None:
        """A test run, and so each of its batches, appears once (a time bin whose run is not known yet carries
        no test run id)."""
        entries = [(index, run.test_run.test_run_id) for index, run in enumerate(runs or ())
                   if run.test_run is not None and run.test_run.test_run_id is not None]
        ids = [test_run_id for _, test_run_id in entries]
        if len(set(ids)) < len(ids):
            first, again = _first_repeat(ids)
            raise PydanticCustomError("duplicate_test_run", "holds the test run {test_run_id} twice (entries "
                                      "{first} and {again}), and so each of its batches; a test run is reported "
                                      "once", {"test_run_id": repr(ids[first]), "first": entries[first][0],
                                               "again": entries[again][0]})
        return runs


def _first_repeat(values: list[Any]) -> tuple[int, int]:
    """The positions of the first value in `values` that appears again, and of its second appearance."""
    seen: dict[Any, int] = {}
    for index, value in enumerate(values):
        first = seen.setdefault(value, index)
        if first != index:
            return first, index
    raise ValueError("no value appears twice")


class StressTestData(Wire):
    project_id: RimeUUID | None = None
    test_run_id: Text | None = None
    progress: StressTestJobProgress | None = None


class ContinuousIncrementalTestData(Wire):
    firewall_id: Text | None = None
    ct_test_run_ids: Annotated[list[Text], Field(max_length=MAX_ITEMS)] | None = None
    progress: ContinuousTestJobProgress | None = None


class FileScanData(Wire):
    project_id: RimeUUID | None = None
    file_scan_id: Text | None = None


class JobData(Wire):
    stress: StressTestData | None = None
    continuous_inc: ContinuousIncrementalTestData | None = None
    file_scan: FileScanData | None = None


class JobMetadata(Wire):
    """A job as a writer sends it. Output-only fields are accepted and ignored."""

    job_id: JobIdField | None = None
    job_type: JobType | None = None
    status: JobStatus | None = None
    termination_reason: TerminationReason | None = None
    job_data: JobData | None = None
    agent_id: RimeUUID | None = None
    archived_job_logs: ArchivedJobLogs | None = None
    # Output-only: computed by jobstore, ignored on input.
    creation_time: Timestamp | None = None
    start_time: Timestamp | None = None
    completion_time: Timestamp | None = None
    running_time_secs: StrictFloat | None = None
    job_progress_str: Text | None = None
    cancellation_requested: StrictBool | None = None
    error_msg: Text | None = None


class StressTestMask(Wire):
    project_id: StrictBool = False
    test_run_id: StrictBool = False
    progress: StrictBool = False


class ContinuousIncrementalTestMask(Wire):
    firewall_id: StrictBool = False
    ct_test_run_ids: StrictBool = False
    progress: StrictBool = False


class FileScanMask(Wire):
    project_id: StrictBool = False
    file_scan_id: StrictBool = False


class JobDataMask(Wire):
    stress: StressTestMask | None = None
    continuous_inc: ContinuousIncrementalTestMask | None = None
    file_scan: FileScanMask | None = None


class WriteMask(Wire):
    """UpsertJobRequestWriteMask: which fields of an existing job an upsert writes."""

    status: StrictBool = False
    term_reason: StrictBool = False
    agent_id: StrictBool = False
    archived_job_logs: StrictBool = False
    job_data: JobDataMask | None = None

    @cached_property
    def job_data_fields(self) -> tuple[tuple[str, str], ...]:
        """(jobData key, field) pairs, in wire names, whose mask bit is set."""
        if self.job_data is None:
            return ()
        pairs: list[tuple[str, str]] = []
        for kind_field, kind_mask in self.job_data:
            if kind_mask is None:
                continue
            kind = to_camel(kind_field)
            pairs.extend((kind, to_camel(name)) for name, bit in kind_mask if bit)
        return tuple(pairs)

