"""What auditors use: a job's history with its hash chain, the global feed, time travel, verification of chains
and views against the log, and export/import of the whole log as JSON Lines."""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import IO, Any

from eventsourcing.persistence import StoredEvent

from jobstore.adapters.checkpoints import CheckpointCheck, SavedCheckpoint
from jobstore.adapters.storage.codec import job_event, rebuilt_event, stored_event
from jobstore.adapters.storage.events import EventTable
from jobstore.adapters.storage.standby import ReadRoute
from jobstore.adapters.storage.tree import SqlTreeStore
from jobstore.adapters.storage.views import SqlViewStore
from jobstore.domain.application import Jobs
from jobstore.domain.chain import ChainFollower, Problem, chain_problems
from jobstore.domain.document import JobDocument, format_time, merge, parse_time
from jobstore.domain.enums import JobView
from jobstore.domain.errors import InvalidArgument, JobNotFound, JobStoreError, OutOfRange
from jobstore.domain.job import Job, stream_id
from jobstore.domain.merkle import leaf_hash, root
from jobstore.projections.render import VIEWS, view_document

Progress = Callable[[int, int], None]
EXPORT_BATCH_BYTES = 16 * 1024 * 1024  # of stored events held at once while exporting


@dataclass(frozen=True)
class RecordedEvent:
    """One event as auditors see it."""

    position: int
    event: Job.Event

    def wire(self) -> dict[str, Any]:
        """Its fields as the API and exports show them: `serverRequestId` only on events that have one (an
        event recorded before servers chose request ids exports as it did)."""
        e = self.event
        shown = {"position": self.position, "jobId": e.job_id, "version": e.originator_version,
                 "type": type(e).__name__, "recordedAt": format_time(e.timestamp),
                 "actor": {"name": e.actor, "role": e.role}, "requestId": e.request_id}
        if e.server_request_id is not None:
            shown["serverRequestId"] = e.server_request_id
        shown.update(data=e.data, hash=e.hash, prevHash=e.prev_hash)
        return shown


@dataclass(frozen=True)
class ReadSide:
    """Where the auditors' reads of the log go (history, the feed, time travel): the standbys, when reads go to
    them, else the primary. Verification, export and import stay on the primary."""

    events: EventTable
    jobs: Jobs
    standby_jobs: Callable[[], Jobs] | None = None  # opens the event store on the standbys at its first read
    route: ReadRoute | None = None

    def job(self, job_id: str, version: int) -> Job:
        """The job replayed at `version`, from the event store that reads go to."""
        standby, route = self.standby_jobs, self.route
        if standby is None or route is None:
            return self.jobs.job(job_id, version=version)
        return route.read(lambda: standby().job(job_id, version=version),
                          lambda: self.jobs.job(job_id, version=version))


class ImportRefused(JobStoreError):
    pass


class Audit:
    def __init__(self, jobs: Jobs, events: EventTable, views: SqlViewStore, tree: SqlTreeStore,
                 reads: ReadSide | None = None) -> None:
        self.jobs = jobs
        self.events = events
        self.views = views
        self.tree = tree
        self.reads = reads or ReadSide(events, jobs)

    def _decode(self, stored: StoredEvent) -> Job.Event:
        return job_event(self.jobs.mapper, stored)

    # --- history and feed

    def history(self, job_id: str) -> list[RecordedEvent]:
        stream = self.reads.events.stream(stream_id(job_id))
        if not stream:
            raise JobNotFound(job_id)
        return [RecordedEvent(p.position, self._decode(p.stored)) for p in stream]

    def history_page(self, job_id: str, after_version: int, max_bytes: int) -> tuple[list[RecordedEvent], bool]:
        """A job's events after `after_version`, oldest first, holding at most about `max_bytes` (at least one
        event), and whether more follow."""
        stream = stream_id(job_id)
        page, more = self.reads.events.stream_page(stream, after_version, max_bytes)
        if not page and self.reads.events.last_version(stream) is None:
            raise JobNotFound(job_id)
        return [RecordedEvent(p.position, self._decode(p.stored)) for p in page], more

    def feed(self, after: int, limit: int,
             max_bytes: int = EXPORT_BATCH_BYTES) -> tuple[list[RecordedEvent], int, bool]:
        """Events of every job after global position `after`, in commit order, at most `limit` holding at most
        about `max_bytes` (at least one event); where the next page starts, and whether more follow."""
        page, more = self.reads.events.log_page(after, limit, max_bytes)
        events = [RecordedEvent(p.position, self._decode(p.stored)) for p in page]
        return events, events[-1].position if events else after, more

    def event_at(self, position: int) -> Job.Event:
        """The event at `position` in the log, read from the primary."""
        stored = self.events.at(position)
        if stored is None:
            raise OutOfRange(f"no event at position {position}")
        return self._decode(stored)

    # --- time travel (rebuilt from the log, never from the views)

    def at_version(self, job_id: str, version: int) -> tuple[JobDocument, datetime]:
        if version < 1:
            raise InvalidArgument("version", f"must be 1 or more (got {version})")
        last = self.reads.events.last_version(stream_id(job_id))
        if last is None:
            raise JobNotFound(job_id)
        if version > last:
            raise OutOfRange(f"job {job_id!r} has {last} events; version {version} is beyond the last")
        job = self.reads.job(job_id, version)
        return job.document, job.modified_on

    def as_of(self, job_id: str, moment: datetime) -> tuple[JobDocument, datetime]:
        """The job as it was at `moment`: the last event recorded at or before it, found by binary search."""
        version = self.reads.events.version_at(stream_id(job_id), moment)
        if version is None:
            raise JobNotFound(job_id)
        if version == 0:
            raise JobNotFound(job_id, f"at {format_time(moment)} (it was created later)")
        return self.reads.job(job_id, version).document, moment

    # --- verification

    def job_ids(self) -> list[str]:
        ids = []
        for stream in self.events.streams():
            first = self.events.event(stream, 1)
            if first is not None:
                ids.append(self._decode(first).job_id)
        return sorted(ids)

    def verify(self, job_id: str | None = None, progress: Progress | None = None) -> list[Problem]:
        """Recompute every chain and compare every view row with the state replayed from the log."""
        job_ids = [job_id] if job_id is not None else self.job_ids()
        positions = {view: self.views.position(view) for view in VIEWS}
        problems: list[Problem] = []
        for done, one in enumerate(job_ids, start=1):
            problems.extend(self._verify_job(one, positions))
            if progress:
                progress(done, len(job_ids))
        if job_id is None:
            known = set(job_ids)
            for view in VIEWS:
                for row_job_id in self.views.job_ids(view):
                    if row_job_id not in known:
                        problems.append(Problem(row_job_id, None, f"{view.value} has a row but the log has no "
                                                                  "such job"))
        return problems

    def _verify_job(self, job_id: str, positions: dict[JobView, int]) -> list[Problem]:
        stream = self.events.stream(stream_id(job_id))
        events = []
        for positioned in stream:
            try:
                events.append(self._decode(positioned.stored))
            except Exception as error:  # noqa: BLE001 - an event that no longer decodes is itself a finding
                return [Problem(job_id, positioned.stored.originator_version,
                                f"the stored event cannot be decoded ({error})")]
        if not events:
            return [Problem(job_id, None, "no events in the log")]
        problems = chain_problems(events)
        document: JobDocument = {}
        for event in events:
            document = merge(document, event.data)
        last_position, last_version = stream[-1].position, events[-1].originator_version
        for view in VIEWS:
            if positions[view] < last_position:
                continue  # the view has not reached this job's last event yet
            row = self.views.get(view, job_id)
            if row is None:
                problems.append(Problem(job_id, None, f"missing from {view.value}"))
                continue
            expected = view_document(document, view)
            for field in sorted(set(expected) | set(row.document)):
                if expected.get(field) != row.document.get(field):
                    problems.append(Problem(job_id, None, f"{view.value} shows {field}={row.document.get(field)!r}"
                                                          f", the log says {expected.get(field)!r}"))
            if row.version != last_version:
                problems.append(Problem(job_id, None, f"{view.value} is at version {row.version}, the log at "
                                                      f"{last_version}"))
        return problems

    def verify_checkpoints(self, saved: list[SavedCheckpoint], progress: Progress | None = None) -> list[str]:
        """That the log is an append-only extension of each saved checkpoint (adapters/checkpoints.py)."""
        state = self.tree.state()
        check = CheckpointCheck(saved, kept=self.tree.leaves())
        check.kept_agrees = {s.checkpoint.size: state.size >= s.checkpoint.size
                             and self.tree.computed(partial(root, size=s.checkpoint.size)) == s.checkpoint.root
                             for s in saved}
        head = int(self.jobs.recorder.max_notification_id() or 0)
        problems: list[str] = []
        position, more = 0, True
        while more:
            page, more = self.events.log_page(position, 1000, EXPORT_BATCH_BYTES)
            for stored in page:
                try:
                    event = self._decode(stored.stored)
                except Exception as error:  # noqa: BLE001 - an event that no longer decodes is itself a finding
                    problems.append(f"position {stored.position}: the stored event cannot be decoded ({error})")
                    check.follow_leaf(stored.position, leaf_hash(hashlib.sha256(stored.stored.state).digest()))
                    continue
                check.follow(stored.position, event)
            position = page[-1].position if page else position
            if progress:
                progress(min(position, head), head)
        check.finish()
        return problems + check.problems()

    # --- export and import

    def export(self, out: IO[str], after: int = 0, progress: Progress | None = None, batch: int = 1000) -> int:
        """Write the global log after `after` as JSON Lines, oldest first; returns how many events."""
        head = int(self.jobs.recorder.max_notification_id() or 0)
        written, position = 0, after
        while True:
            events, position, more = self.feed(position, batch)
            for recorded in events:
                out.write(json.dumps(recorded.wire(), separators=(",", ":"), ensure_ascii=False) + "\n")
            written += len(events)
            if progress:
                progress(min(position, head) - after, max(head - after, 0))
            if not more:
                return written

    def import_(self, source: Callable[[], Iterable[str]], progress: Progress | None = None, total: int = 0,
                batch: int = 500) -> int:
        """Load an export into an empty store; returns how many events.

        `source` gives the export's lines; it is read twice: first every chain is checked, so that a broken
        export stores nothing, then the events are written.
        """
        if self.events.count():
            raise ImportRefused("the store already holds events: import only into an empty store "
                                "(a new JOBSTORE_HOME, or an empty PostgreSQL database or schema)")
        chains = ChainFollower()
        for number, _, event in parse_export(source()):
            problems = chains.follow(event)
            if problems:
                raise ImportRefused(f"line {number}: {problems[0]}: the export does not follow the chain before it "
                                    "(missing, reordered or altered events)")
        pending: list[Job.Event] = []
        count = 0
        for _number, _position, event in parse_export(source()):
            pending.append(event)
            if len(pending) >= batch:
                count += self._insert(pending)
                if progress:
                    progress(count, total)
        count += self._insert(pending)
        if progress:
            progress(count, total)
        return count

    def _insert(self, events: list[Job.Event]) -> int:
        if events:
            self.jobs.recorder.insert_events([stored_event(self.jobs.mapper, e) for e in events])
        written = len(events)
        events.clear()
        return written



def parse_export(lines: Iterable[str]) -> Iterator[tuple[int, int, Job.Event]]:
    """An export's events: (line number, log position, event)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, parse_float=_no_fraction, parse_constant=_no_fraction)
            yield number, int(record["position"]), rebuilt_event(
                record["type"], originator_id=stream_id(record["jobId"]),
                originator_version=int(record["version"]), timestamp=parse_time(record["recordedAt"]),
                job_id=record["jobId"], data=record["data"], actor=record["actor"]["name"],
                role=record["actor"]["role"], request_id=record["requestId"],
                server_request_id=record.get("serverRequestId"), prev_hash=record["prevHash"],
                hash=record["hash"])
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ImportRefused(f"line {number} is not an exported jobstore event ({error!r})") from None


def _no_fraction(text: str) -> Any:
    """jobstore's events hold no fractional numbers, NaN or Infinity (the hash chain's canonical form relies on
    it, see domain.chain): an export that does was not written by jobstore."""
    raise ValueError(f"a number {text!r}: jobstore's events hold only whole numbers")
