"""The application service: JobManager's commands on the event store, with bounded retries on conflicts."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobType
from jobstore.domain.errors import ConcurrentUpdateConflict, JobNotFound, JobStoreError
from jobstore.domain.job import Job, Provenance, stream_id
from jobstore.domain.requests import FailJobRequest, FinalizeCancellationRequest, UpsertJobRequest
from jobstore.domain.values import JobId

Clock = Callable[[], datetime]
Change = Callable[[Job | None], Job]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """A command's result: the job after it, at which version, and the global log position of the event it
    appended (if any)."""

    document: JobDocument
    version: int
    position: int | None


class Basis(Enum):
    """What a command decides on."""

    GUESSED_NEW = "no job: a creating request for a job this process has not seen, not looked up"
    CACHED = "the job as this process last wrote or read it, which other processes may have changed since"
    STORED = "the job read from the store just now"


class Jobs(Application[UUID]):
    """JobManager: upsert, fail, request and finalize cancellation. Each accepted change is one event.

    Requests arrive validated (domain.requests); the job ids they name are valid ids (values.JobId).
    """

    name = "jobstore"
    # A replay reads at most 19 events after its snapshot: with 50, the last events' 120-150 KB results stalled
    # 40-80 ms now and then over loopback TCP (bench/README.md, the sixth session).
    snapshotting_intervals: ClassVar[dict[Any, int]] = {Job: 20}
    MAX_ATTEMPTS = 8
    JOB_LOCK_STRIPES = 64

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock
        self.conflicts_retried = 0
        self._job_locks = [threading.Lock() for _ in range(self.JOB_LOCK_STRIPES)]

    def upsert(self, request: UpsertJobRequest, by: Provenance) -> Outcome:
        def write(existing: Job | None) -> Job:
            if existing is None:
                return Job.create(request, self.clock(), by)
            existing.upsert(request, self.clock(), by)
            return existing

        names_a_type = request.job.job_type not in (None, JobType.UNSPECIFIED)
        return self._command(request.job_id, write, creates=True, guess_new=names_a_type)

    def fail(self, job_id: JobId, request: FailJobRequest, by: Provenance) -> Outcome:
        return self._command(job_id, _on_existing(lambda job: job.fail(request, self.clock(), by)))

    def request_cancellation(self, job_id: JobId, by: Provenance) -> Outcome:
        return self._command(job_id, _on_existing(lambda job: job.request_cancellation(self.clock(), by)))

    def finalize_cancellation(self, job_id: JobId, by: Provenance,
                              request: FinalizeCancellationRequest | None = None) -> Outcome:
        job_type = None if request is None else request.job_type
        return self._command(job_id, _on_existing(lambda job: job.finalize_cancellation(self.clock(), by, job_type)))

    def job(self, job_id: str, version: int | None = None) -> Job:
        """The job replayed from its event stream (at `version` when given)."""
        try:
            job: object = self.repository.get(stream_id(job_id), version=version)
        except AggregateNotFoundError:
            raise JobNotFound(job_id) from None
        assert isinstance(job, Job)
        return job

    # --- internals

    def save_job(self, job: Job) -> int:
        """Append the job's pending events; returns the global position of the last one."""
        recordings = self.save(job)
        return recordings[-1].notification.id

    def _command(self, job_id: JobId, change: Change, creates: bool = False, guess_new: bool = False) -> Outcome:
        """Load, decide, append; on a version conflict reload and decide again, a bounded number of times.

        Commands on one job take turns in this process (a lock per job id), so that a command may decide on the
        cached job itself rather than a copy (a copy cost a fifth of a command). A decision on anything but the
        stored job may be stale when other processes write too: a change decided on stale state cannot be
        stored (its version is taken), and a refusal or a "nothing to change" is decided again on the stored
        job before it is answered. A job whose command failed is dropped from the cache, since it may hold a
        change that was never stored. A request that can create a job (`guess_new`) for a job this process has
        not seen is first decided as a creation without reading the store: if the job exists, the creation
        cannot be stored (version 1 is taken), and the request is decided again on the stored job.
        """
        with self._job_locks[hash(job_id) % self.JOB_LOCK_STRIPES]:
            basis = self._first_basis(job_id, guess_new)
            for attempt in range(self.MAX_ATTEMPTS):
                current = None if basis is Basis.GUESSED_NEW else self._load(job_id, basis)
                if current is None and not creates:
                    raise JobNotFound(job_id)
                try:
                    job = change(current)
                    position = self.save_job(job) if job.pending_events else None
                except JobStoreError:
                    self._forget(job_id)
                    if basis is Basis.STORED:
                        raise
                except IntegrityError:  # the version was taken: another writer, or the job was not new
                    self._forget(job_id)
                    if basis is not Basis.GUESSED_NEW:
                        self.conflicts_retried += 1
                        time.sleep(0.001 * (2 ** attempt))
                except BaseException:
                    self._forget(job_id)
                    raise
                else:
                    if position is not None or basis is Basis.STORED:
                        return Outcome(job.document, job.version, position)
                basis = Basis.STORED
        raise ConcurrentUpdateConflict(
            f"job {job_id!r} kept changing under concurrent writers ({self.MAX_ATTEMPTS} attempts): retry the request")

    def _first_basis(self, job_id: JobId, guess_new: bool) -> Basis:
        cache = self.repository.cache
        if cache is None:
            return Basis.STORED
        try:
            cache.get(stream_id(job_id))
        except KeyError:
            return Basis.GUESSED_NEW if guess_new else Basis.STORED
        return Basis.CACHED

    def _load(self, job_id: JobId, basis: Basis) -> Job | None:
        if basis is Basis.STORED:
            self._forget(job_id)
        try:
            job: object = self.repository.get(stream_id(job_id), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        assert isinstance(job, Job)
        return job

    def _forget(self, job_id: JobId) -> None:
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(stream_id(job_id), evict=True)


def _on_existing(act: Callable[[Job], None]) -> Change:
    """A change of a job that must exist (the command has checked it does)."""
    def change(job: Job | None) -> Job:
        assert job is not None
        act(job)
        return job
    return change
