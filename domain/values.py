"""Value objects of a job, in the contract's wire shapes (camelCase aliases, enums by name), and the limits and
typed ids every request is held to, declared here once.

They validate what a writer sends; the job document that events carry is their JSON form.
"""
from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, NewType

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from jobstore.domain.enums import JobStatus, JobType, TerminationReason, TestTaskStatus
from jobstore.domain.errors import InvalidArgument

MAX_TEXT = 4096
MAX_ITEMS = 10_000
MAX_JOB_ID = 128

Text = Annotated[str, Field(max_length=MAX_TEXT)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]


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
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    @cached_property  # not a pydantic private attribute: reading one of those costs a few microseconds
    def _wire_form(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)

    def wire(self) -> dict[str, Any]:
        """The JSON form as sent on the wire: camelCase, unset fields omitted. Computed once (the model is
        frozen); callers must not change what it returns."""
        return self._wire_form


class RimeUUID(Wire):
    uuid: Text


class SafeURL(Wire):
    url: Text


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


class StressTestJobProgress(Wire):
    test_run: TestRunProgress | None = None


class ContinuousTestRunProgress(Wire):
    test_run: TestRunProgress | None = None
    bin_start_time: Timestamp | None = None
    bin_end_time: Timestamp | None = None


class ContinuousTestJobProgress(Wire):
    test_runs: Annotated[list[ContinuousTestRunProgress], Field(max_length=MAX_ITEMS)] | None = None


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
    running_time_secs: float | None = None
    job_progress_str: Text | None = None
    cancellation_requested: bool | None = None
    error_msg: Text | None = None


class StressTestMask(Wire):
    project_id: bool = False
    test_run_id: bool = False
    progress: bool = False


class ContinuousIncrementalTestMask(Wire):
    firewall_id: bool = False
    ct_test_run_ids: bool = False
    progress: bool = False


class FileScanMask(Wire):
    project_id: bool = False
    file_scan_id: bool = False


class JobDataMask(Wire):
    stress: StressTestMask | None = None
    continuous_inc: ContinuousIncrementalTestMask | None = None
    file_scan: FileScanMask | None = None


class WriteMask(Wire):
    """UpsertJobRequestWriteMask: which fields of an existing job an upsert writes."""

    status: bool = False
    term_reason: bool = False
    agent_id: bool = False
    archived_job_logs: bool = False
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

