"""The Job aggregate: one event stream per job, every transition checked against the transition table."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from jobstore.domain.chain import GENESIS, canonical_record, event_hash
from jobstore.domain.document import JobChange, JobDocument, format_time, merge
from jobstore.domain.enums import JOB_DATA_KEY, JobStatus, JobType, TerminationReason
from jobstore.domain.errors import FailedPrecondition, IllegalTransition, InvalidArgument
from jobstore.domain.requests import FailJobRequest, UpsertJobRequest, check_job_data_kinds, check_job_type
from jobstore.domain.transitions import INITIAL_STATUS, NEW_JOB, TERMINAL, Route, route
from jobstore.domain.values import RESERVED_JOB_IDS


@dataclass(frozen=True)
class Provenance:
    """Who asked for a change: the API key's name and role, and the request it came in: the id its client gave it
    (or the server's, when it gave none) and the id the server gave it, unique per request (None only where no
    server took a request, as in tests)."""

    actor: str
    role: str
    request_id: str
    server_request_id: str | None = None


@lru_cache(maxsize=65_536)
def stream_id(job_id: str) -> UUID:
    """The event stream of a job: a name-based UUID, so a job id always finds the same stream."""
    return uuid5(NAMESPACE_URL, "jobstore:job:" + job_id)


class Job(Aggregate):
    """A job's life. Public commands validate and trigger at most one event; events only merge data."""

    class Event(Aggregate.Event):
        """Every event: the part of the job it changes (`data`), who asked, and its link in the hash chain."""

        job_id: str
        data: JobChange
        actor: str
        role: str
        request_id: str
        prev_hash: str
        hash: str
        # The id the server gave the request. Events recorded before servers chose one do not store it, and read
        # as None: their canonical record, and so their hash, stay as they were.
        server_request_id: str | None = None

        def apply(self, aggregate: Aggregate) -> None:
            assert isinstance(aggregate, Job)
            aggregate.document = merge(aggregate.document, self.data)
            aggregate.chain_head = self.hash

        def canonical(self) -> dict[str, Any]:
            """The record its hash is computed over (see domain.chain)."""
            return canonical_record(job_id=self.job_id, version=self.originator_version,
                                    event_type=type(self).__name__, recorded_at=format_time(self.timestamp),
                                    actor=self.actor, role=self.role, request_id=self.request_id,
                                    server_request_id=self.server_request_id, data=self.data,
                                    prev_hash=self.prev_hash)

    class Created(Event, Aggregate.Created):
        pass

    class Upserted(Event):
        pass

    class Failed(Event):
        pass

    class CancellationRequested(Event):
        pass

    class CancellationFinalized(Event):
        pass

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.document: JobDocument = {}  # the Created event's data fills it
        self.chain_head = GENESIS

    # --- reading the state

    @property
    def status(self) -> JobStatus:
        return JobStatus(self.document["status"])

    @property
    def job_type(self) -> JobType:
        return JobType(self.document["jobType"])

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    # --- commands

    @classmethod
    def create(cls, request: UpsertJobRequest, at: datetime, by: Provenance) -> Job:
        """A new job from every field present in the request's job (UpsertJobRequest on a job id not seen before)."""
        job = request.job
        if request.job_id in RESERVED_JOB_IDS:
            raise InvalidArgument("job.jobId", f"{request.job_id!r} is reserved (the HTTP route /v1/jobs/project/... "
                                               "lists a project's jobs); choose another job id")
        if job.job_type is None or job.job_type is JobType.UNSPECIFIED:
            raise InvalidArgument("job.jobType", "is required to create a job and must not be UNSPECIFIED")
        expected = JOB_DATA_KEY[job.job_type]
        if job.job_data is not None and expected is not None and expected not in job.wire().get("jobData", {}):
            raise InvalidArgument("job.jobData", f"must carry jobData.{expected} for a {job.job_type.value} job "
                                                 "(or leave jobData out)")
        status = _initial_status(job.status)
        document: JobDocument = {
            "jobId": request.job_id,
            "jobType": job.job_type.value,
            "status": status.value,
            "creationTime": format_time(at),
            "cancellationRequested": False,
        }
        wire = job.wire()
        if job.termination_reason not in (None, TerminationReason.UNSPECIFIED):
            document["terminationReason"] = wire["terminationReason"]
        if "agentId" in wire:
            document["agentId"] = wire["agentId"]
        if "archivedJobLogs" in wire:
            document["archivedJobLogs"] = wire["archivedJobLogs"]
        if "jobData" in wire:
            document["jobData"] = wire["jobData"]
        link = _link(request.job_id, 1, cls.Created, document, at, by, GENESIS)
        return cls._create(cls.Created, id=stream_id(request.job_id), timestamp=at, job_id=request.job_id,
                           data=document, actor=by.actor, role=by.role, request_id=by.request_id,
                           server_request_id=by.server_request_id, **link)

    def upsert(self, request: UpsertJobRequest, at: datetime, by: Provenance) -> None:
        """Write the masked fields of the request's job; a write that changes nothing triggers nothing."""
        job, mask = request.job, request.mask
        check_job_type("job.jobType", job.job_type, self.job_id, self.job_type)
        check_job_data_kinds(request, self.job_type)
        wire = job.wire()
        changes: dict[str, Any] = {}
        if mask.status and job.status is not None and job.status is not self.status:
            changes.update(self._status_change(job.status, at))
        for bit, field in (("term_reason", "terminationReason"), ("agent_id", "agentId"),
                           ("archived_job_logs", "archivedJobLogs")):
            if getattr(mask, bit) and wire[field] != self.document.get(field):
                changes[field] = wire[field]
        job_data_changes: dict[str, dict[str, Any]] = {}
        stored_data = cast(dict[str, dict[str, Any]], self.document.get("jobData", {}))
        for kind, field in mask.job_data_fields:
            value = wire["jobData"][kind][field]
            if value != stored_data.get(kind, {}).get(field):
                job_data_changes.setdefault(kind, {})[field] = value
        if job_data_changes:
            changes["jobData"] = job_data_changes
        if not changes:
            return
        if self.is_terminal and set(changes) - {"archivedJobLogs"}:
            raise FailedPrecondition(
                f"job {self.job_id!r} is {self.status.value}, a terminal status: only archivedJobLogs may still "
                f"change (the request would change {', '.join(sorted(set(changes) - {'archivedJobLogs'}))})")
        self._trigger(self.Upserted, cast(JobChange, changes), at, by)

    def fail(self, request: FailJobRequest, at: datetime, by: Provenance) -> None:
        check_job_type("jobType", request.job_type, self.job_id, self.job_type)
        reason, error_msg = request.reason, request.error_msg
        logs = None if request.archived_job_logs is None else request.archived_job_logs.wire()
        if self.status is JobStatus.FAILED and self.document.get("terminationReason") == reason.value \
                and self.document.get("errorMsg") == error_msg \
                and (logs is None or logs == self.document.get("archivedJobLogs")):
            return
        if self.is_terminal:
            raise IllegalTransition(f"job {self.job_id!r} is {self.status.value}, a terminal status: it cannot fail")
        data: JobChange = {"status": JobStatus.FAILED.value, "terminationReason": reason.value,
                          "completionTime": format_time(at)}
        if error_msg is not None:
            data["errorMsg"] = error_msg
        if logs is not None:
            data["archivedJobLogs"] = logs
        self._trigger(self.Failed, data, at, by)

    def request_cancellation(self, at: datetime, by: Provenance) -> None:
        if self.is_terminal:
            raise IllegalTransition(f"job {self.job_id!r} is {self.status.value}, a terminal status: "
                                    "there is nothing left to cancel")
        if self.document.get("cancellationRequested"):
            return
        self._trigger(self.CancellationRequested, {"cancellationRequested": True}, at, by)

    def finalize_cancellation(self, at: datetime, by: Provenance, job_type: JobType | None = None) -> None:
        check_job_type("jobType", job_type, self.job_id, self.job_type)
        if self.status is JobStatus.CANCELLED:
            return
        if self.is_terminal:
            raise IllegalTransition(f"job {self.job_id!r} is {self.status.value}, a terminal status: "
                                    "it cannot be cancelled")
        if not self.document.get("cancellationRequested"):
            raise FailedPrecondition(f"job {self.job_id!r} has no cancellation request: request a cancellation "
                                     "(CancelJob) before finalizing it")
        assert route(self.status, JobStatus.CANCELLED) is Route.FINALIZE
        self._trigger(self.CancellationFinalized,
                      {"status": JobStatus.CANCELLED.value, "completionTime": format_time(at)}, at, by)

    # --- helpers

    def _status_change(self, target: JobStatus, at: datetime) -> JobChange:
        if route(self.status, target) is not Route.DIRECT:
            raise IllegalTransition(f"job {self.job_id!r} cannot move from {self.status.value} to "
                                    f"{target.value} (see the transition table)")
        change: JobChange = {"status": target.value}
        if target is JobStatus.RUNNING and "startTime" not in self.document:
            change["startTime"] = format_time(at)
        if target in TERMINAL:
            change["completionTime"] = format_time(at)
        return change

    def _trigger(self, event_class: type[Job.Event], data: JobChange, at: datetime, by: Provenance) -> None:
        link = _link(self.job_id, self.version + 1, event_class, data, at, by, self.chain_head)
        self.trigger_event(event_class, timestamp=at, job_id=self.job_id, data=data, actor=by.actor, role=by.role,
                           request_id=by.request_id, server_request_id=by.server_request_id, **link)


def _link(job_id: str, version: int, event_class: type[Job.Event], data: JobChange, at: datetime, by: Provenance,
          prev_hash: str) -> dict[str, str]:
    """The hash-chain fields of an event about to be triggered."""
    record = canonical_record(job_id=job_id, version=version, event_type=event_class.__name__,
                              recorded_at=format_time(at), actor=by.actor, role=by.role, request_id=by.request_id,
                              server_request_id=by.server_request_id, data=data, prev_hash=prev_hash)
    return {"prev_hash": prev_hash, "hash": event_hash(record)}


def _initial_status(requested: JobStatus | None) -> JobStatus:
    if requested in (None, JobStatus.UNSPECIFIED, INITIAL_STATUS):
        return INITIAL_STATUS
    assert requested is not None
    if route(NEW_JOB, requested) is not Route.DIRECT:
        raise IllegalTransition(f"a new job starts in {INITIAL_STATUS.value} or "
                                f"{', '.join(s.value for s in [*TRANSITIONS_FROM_NEW])}, not {requested.value}")
    return requested


TRANSITIONS_FROM_NEW = [s for s in JobStatus if route(NEW_JOB, s) is Route.DIRECT]
