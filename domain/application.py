"""The application service: JobManager's commands on the event store, with bounded retries on conflicts."""
from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording, Transcoder

from jobstore.domain.document import Document
from jobstore.domain.enums import JobType, TerminationReason
from jobstore.domain.errors import ConcurrentUpdateConflict, InvalidArgument, JobNotFound, JobStoreError
from jobstore.domain.job import Job, Provenance, check_upsert_request, stream_id
from jobstore.domain.transcoder import EventTranscoder
from jobstore.domain.values import JobMetadata, WriteMask, job_id_problem

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """A command's result: the job after it, and the global log position of the event it appended (if any)."""

    document: Document
    position: int | None


class Jobs(Application[UUID]):
    """JobManager: upsert, fail, request and finalize cancellation. Each accepted change is one event."""

    name = "jobstore"
    snapshotting_intervals: ClassVar[dict[Any, int]] = {Job: 50}
    MAX_ATTEMPTS = 8
    JOB_LOCK_STRIPES = 64

    def __init__(self, env: dict[str, str] | None = None, clock: Clock = utc_now) -> None:
        super().__init__(env=env)
        self.clock = clock
        self.conflicts_retried = 0
        self._job_locks = [threading.Lock() for _ in range(self.JOB_LOCK_STRIPES)]

    def upsert(self, job: JobMetadata, mask: WriteMask, by: Provenance) -> Outcome:
        check_upsert_request(job, mask)
        assert job.job_id is not None

        def write(existing: Job | None) -> Job:
            if existing is None:
                return Job.create(job, mask, self.clock(), by)
            existing.upsert(job, mask, self.clock(), by)
            return existing

        can_create = job.job_type not in (None, JobType.UNSPECIFIED)
        return self._command(job.job_id, write, creates=True, likely_new=can_create)

    def fail(self, job_id: str, reason: TerminationReason | None, error_msg: str | None,
             by: Provenance) -> Outcome:
        self._check_job_id(job_id)
        if reason is None or reason is TerminationReason.UNSPECIFIED:
            raise InvalidArgument("terminationReason", "is required and must not be UNSPECIFIED")

        def fail(job: Job | None) -> Job:
            existing = _existing(job, job_id)
            existing.fail(reason, error_msg, self.clock(), by)
            return existing

        return self._command(job_id, fail)

    def request_cancellation(self, job_id: str, by: Provenance) -> Outcome:
        self._check_job_id(job_id)

        def request(job: Job | None) -> Job:
            existing = _existing(job, job_id)
            existing.request_cancellation(self.clock(), by)
            return existing

        return self._command(job_id, request)

    def finalize_cancellation(self, job_id: str, by: Provenance) -> Outcome:
        self._check_job_id(job_id)

        def finalize(job: Job | None) -> Job:
            existing = _existing(job, job_id)
            existing.finalize_cancellation(self.clock(), by)
            return existing

        return self._command(job_id, finalize)

    def job(self, job_id: str, version: int | None = None) -> Job:
        """The job replayed from its event stream (at `version` when given)."""
        try:
            job: object = self.repository.get(stream_id(job_id), version=version)
        except AggregateNotFoundError:
            raise JobNotFound(job_id) from None
        assert isinstance(job, Job)
        return job

    # --- internals

    def construct_transcoder(self) -> Transcoder:
        transcoder = EventTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    @staticmethod
    def _check_job_id(job_id: str) -> None:
        problem = job_id_problem(job_id)
        if problem:
            raise InvalidArgument("jobId", problem)

    def _load(self, job_id: str, fresh: bool) -> Job | None:
        """The job (None if it does not exist); `fresh` bypasses the cache of recently written jobs.

        A command decides on the cached job itself, not on a deep copy (a copy cost a fifth of a command): so
        commands on one job take turns (`_command` holds a lock per job id), and a job whose command failed is
        dropped from the cache, since it may hold a change that was never stored.
        """
        if fresh:
            self._forget(job_id)
        try:
            job: object = self.repository.get(stream_id(job_id), deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        assert isinstance(job, Job)
        return job

    def _save(self, job: Job) -> list[Recording[UUID]]:
        """The library's `save` for one job (record, cache, snapshot, notify), without its generic collection
        step: its runtime protocol checks cost a fifth of a command's own time."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.events.extend(job.collect_events())
        processing.aggregates[job.id] = job
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings

    def _cached(self, job_id: str) -> bool:
        if self.repository.cache is None:
            return False
        try:
            self.repository.cache.get(stream_id(job_id))
        except KeyError:
            return False
        return True

    def _forget(self, job_id: str) -> None:
        if self.repository.cache is not None:
            with contextlib.suppress(KeyError):
                self.repository.cache.get(stream_id(job_id), evict=True)

    def _command(self, job_id: str, change: Callable[[Job | None], Job], creates: bool = False,
                 likely_new: bool = False) -> Outcome:
        """Load, decide, append; on a version conflict reload and decide again, a bounded number of times.

        A cached job may be stale when other processes write too. A change decided on stale state cannot be
        stored (its version is taken), so only a refusal or a "nothing to change" is decided again on the
        stored state before it is answered. A request that can create a job (`likely_new`) for a job not in
        the cache is first decided as a creation without reading the store: if the job exists, the creation
        cannot be stored (version 1 is taken), and the request is decided again on the stored job.
        """
        with self._job_locks[hash(job_id) % self.JOB_LOCK_STRIPES]:
            fresh = self.repository.cache is None
            for attempt in range(self.MAX_ATTEMPTS):
                guessed_new = likely_new and not fresh and not self._cached(job_id)
                current = None if guessed_new else self._load(job_id, fresh)
                if current is None and not creates:
                    raise JobNotFound(job_id)
                try:
                    job = change(current)
                    recordings = self._save(job) if job.pending_events else None
                except JobStoreError:
                    self._forget(job_id)
                    if fresh:
                        raise
                    fresh = True
                    continue
                except IntegrityError:
                    self._forget(job_id)
                    fresh = True
                    if not guessed_new:  # another writer got there first; a job thought new is no conflict
                        self.conflicts_retried += 1
                        time.sleep(0.001 * (2 ** attempt))
                    continue
                except BaseException:
                    self._forget(job_id)
                    raise
                if recordings is None:
                    if fresh:
                        return Outcome(job.document, None)
                    fresh = True
                    continue
                return Outcome(job.document, recordings[-1].notification.id)
        raise ConcurrentUpdateConflict(
            f"job {job_id!r} kept changing under concurrent writers ({self.MAX_ATTEMPTS} attempts): retry the request")


def _existing(job: Job | None, job_id: str) -> Job:
    if job is None:
        raise JobNotFound(job_id)
    return job
