"""Watches for every transport: a client names the jobs it follows (as the lists choose them, or one job) and a
position, and learns of each change of a matching job after it, in log order, each exactly once: a job that
comes to match or changes while matching is sent as it now is; one that stops matching is sent once more, as
leaving. Bookmarks say how far the log was read when nothing matched, so that a quiet client resumes from there.

One tail of the log per process (`WatchHub`) serves every watcher: it reads each new event once, folds it into
its job's document, and hands the change to the watchers whose filter may care (indexed by job, project and
agent); while no watch is open it reads nothing. A watcher starting from an older position first replays the
log from there on its own, at its client's pace, then joins the tail where it stands, with no gap and no repeat
(both happen on the event loop, between two of its turns). A watcher whose client falls `buffer` changes
behind the tail is cut off with a reason."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple
from uuid import UUID

from anyio import to_thread

from jobstore.adapters.core.lists import JobFilter
from jobstore.adapters.errors import ResourceExhausted
from jobstore.adapters.storage.backend import EVENTS_CHANNEL, Backend
from jobstore.adapters.storage.codec import decode_whole
from jobstore.adapters.storage.events import EventTable
from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobView
from jobstore.domain.errors import OutOfRange
from jobstore.projections.changes import ChangeFold, Columns, ViewChange, document_at
from jobstore.projections.columns import COLUMN_NAMES
from jobstore.projections.rows import LoggedEvent

log = logging.getLogger("jobstore.watch")
CHANGE, LEAVE, BOOKMARK = "change", "leave", "bookmark"
READ_BATCH = 1000
FOLD_CAPACITY = 4096  # jobs whose latest document a tail keeps; another's is rebuilt from its events when it changes
_JOB_ID, _PROJECT, _AGENT = (COLUMN_NAMES.index(name) for name in ("job_id", "project_id", "agent_id"))
_INDEX = {name: n for n, name in enumerate(COLUMN_NAMES)}


@dataclass(frozen=True)
class WatchFilter:
    """The jobs a watch follows: one job, or those a list would choose; and the view it shows them in."""

    jobs: JobFilter
    job_id: str | None = None
    view: JobView = JobView.BASIC

    def matches(self, columns: Columns | None) -> bool:
        if columns is None:
            return False
        if self.job_id is not None and columns[_JOB_ID] != self.job_id:
            return False
        if self.jobs.project_id is not None and columns[_PROJECT] != self.jobs.project_id:
            return False
        if self.jobs.agent_id is not None and columns[_AGENT] != self.jobs.agent_id:
            return False
        return all(columns[_INDEX[column]] in values for column, values in self.jobs.selected)


class Sent(NamedTuple):
    """What a watcher sends: a change or a leave (with the job's document after the event at `position`), or a
    bookmark (every event up to `position` was considered)."""

    kind: str
    position: int
    document: JobDocument | None = None


class Watcher:
    """One client's watch: the changes waiting to be sent (at most `buffer`), and how far the log was read for it."""

    def __init__(self, hub: WatchHub, wanted: WatchFilter, after: int, buffer: int) -> None:
        self.hub = hub
        self.wanted = wanted
        self.start = self.position = after
        self.buffer = buffer
        self.attached = False
        self.cut_off: str | None = None
        self.replay: asyncio.Task[None] | None = None
        self._sent_up_to = after
        self._pending: deque[Sent] = deque()
        self._ready = asyncio.Event()
        self._room = asyncio.Event()

    def offer(self, change: ViewChange) -> None:
        """Consider one change, in log order: sent when the job matches now, or matched before (as leaving)."""
        if change.position <= self.position or self.cut_off is not None:
            return
        self.position = change.position
        if self.wanted.matches(change.after):
            self._push(Sent(CHANGE, change.position, change.document))
        elif self.wanted.matches(change.before):
            self._push(Sent(LEAVE, change.position, change.document))

    def _push(self, sent: Sent) -> None:
        if len(self._pending) >= self.buffer:
            self.cut_off = (f"this watch fell {self.buffer} changes behind the log and was ended; read faster, "
                            f"or watch fewer jobs, and resume after position {self._sent_up_to}")
            self._pending.clear()
        else:
            self._pending.append(sent)
        self._ready.set()

    def full(self) -> bool:
        return len(self._pending) >= self.buffer

    async def room(self) -> None:
        """Until the client has taken half of what waits (for a replay, which goes at the client's pace)."""
        while len(self._pending) > self.buffer // 2 and self.cut_off is None:
            self._room.clear()
            await self._room.wait()

    def reached(self) -> int:
        """The position every event up to which was considered for this watcher."""
        return max(self.position, self.hub.position) if self.attached else self.position

    async def sent(self, heartbeat_seconds: float) -> AsyncIterator[Sent]:
        """Where the watch starts (a bookmark), then its changes as they come, with a bookmark after
        `heartbeat_seconds` without any; a last bookmark when the hub closes. ResourceExhausted when cut off."""
        yield Sent(BOOKMARK, self.start)
        while True:
            if self.cut_off is not None:
                raise ResourceExhausted(self.cut_off)
            if self._pending:
                sent = self._pending.popleft()
                self._sent_up_to = sent.position
                if len(self._pending) <= self.buffer // 2:
                    self._room.set()
                yield sent
                continue
            if self.hub.closed:
                yield Sent(BOOKMARK, self.reached())
                return
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), heartbeat_seconds)
            except TimeoutError:
                position = self.reached()
                self._sent_up_to = position
                yield Sent(BOOKMARK, position)

    def wake(self) -> None:
        self._ready.set()
        self._room.set()


class WatchHub:
    """The process's one tail of the log, shared by its watchers (see the module's description)."""

    def __init__(self, backend: Backend, events: EventTable, buffer: int = 1000, idle_poll_seconds: float = 0.1,
                 hear_appends: Callable[[Callable[[], None]], bool] | None = None) -> None:
        """`hear_appends(nudge)` subscribes the tail to a listener of the process's own, if one runs (else it
        returns False, and the tail listens for itself)."""
        self.backend = backend
        self._hear_appends = hear_appends
        self.events = events
        self.buffer = buffer
        self.idle_poll_seconds = idle_poll_seconds
        self.position = -1  # not tailing yet
        self.closed = False
        self.cut_off = 0  # watches ended because their clients fell too far behind
        self.fold = ChangeFold(FOLD_CAPACITY)
        self._by_job: dict[str, set[Watcher]] = {}
        self._by_project: dict[str, set[Watcher]] = {}
        self._by_agent: dict[str, set[Watcher]] = {}
        self._others: set[Watcher] = set()
        self._watching: set[Watcher] = set()
        self._task: asyncio.Task[None] | None = None
        self._parked = False  # no watch open: the tail reads nothing until one comes
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._stop_listening = threading.Event()

    # --- watchers

    @property
    def open_watches(self) -> int:
        return len(self._watching)

    async def watch(self, wanted: WatchFilter, after: int | None) -> Watcher:
        """A watcher of `wanted` from `after` (None: from the newest event); OUT_OF_RANGE past the newest."""
        head = await to_thread.run_sync(self.events.head)
        if after is None:
            after = head
        elif after > head:
            raise OutOfRange(f"afterPosition {after} is beyond the newest event in the log ({head}); use a "
                             "position an answer gave (X-Jobstore-Position, a change's id)")
        self._start(head)
        if self._parked:  # nothing was read while no one watched, and nothing needs to be
            self.position = head
        watcher = Watcher(self, wanted, after, self.buffer)
        self._watching.add(watcher)
        assert self._wake is not None
        self._wake.set()
        if after >= self.position:
            self._attach(watcher)
        else:
            watcher.replay = asyncio.ensure_future(self._replay(watcher))
        return watcher

    def leave(self, watcher: Watcher) -> None:
        """The watcher's client is gone (or was cut off): forget it."""
        self._detach(watcher)
        self._watching.discard(watcher)
        if watcher.replay is not None:
            watcher.replay.cancel()

    def _detach(self, watcher: Watcher) -> None:
        for index, key in self._keys(watcher):
            index.get(key, set()).discard(watcher)
            if key in index and not index[key]:
                del index[key]
        self._others.discard(watcher)
        watcher.attached = False

    def _keys(self, watcher: Watcher) -> Iterable[tuple[dict[str, set[Watcher]], str]]:
        wanted = watcher.wanted
        if wanted.job_id is not None:
            yield self._by_job, wanted.job_id
        elif wanted.jobs.project_id is not None:
            yield self._by_project, wanted.jobs.project_id
        elif wanted.jobs.agent_id is not None:
            yield self._by_agent, wanted.jobs.agent_id

    def _attach(self, watcher: Watcher) -> None:
        keys = list(self._keys(watcher))
        for index, key in keys:
            index.setdefault(key, set()).add(watcher)
        if not keys:
            self._others.add(watcher)
        watcher.attached = True
        watcher.wake()

    def _candidates(self, change: ViewChange) -> set[Watcher]:
        found = set(self._others)
        for columns in (change.before, change.after):
            if columns is None:
                continue
            for index, value in ((self._by_job, columns[_JOB_ID]), (self._by_project, columns[_PROJECT]),
                                 (self._by_agent, columns[_AGENT])):
                if value is not None and value in index:
                    found |= index[value]
        return found

    async def _replay(self, watcher: Watcher) -> None:
        """The log from the watcher's position up to the tail, at the client's pace, then the tail itself."""
        fold = ChangeFold(FOLD_CAPACITY)
        try:
            while not self.closed and watcher.cut_off is None:
                if watcher.position >= self.position:
                    self._attach(watcher)
                    return
                events = await to_thread.run_sync(self._read, watcher.position)
                if not events:
                    self._attach(watcher)
                    return
                await self._load_priors(fold, events)
                for event in events:
                    if watcher.full():
                        await watcher.room()
                    watcher.offer(fold.apply(event))
        except Exception as error:  # the watcher ends with the reason; the server goes on
            log.exception("replaying the log for a watch failed")
            watcher.cut_off = f"replaying the log failed ({error}); resume from the last position received"
            watcher.wake()

    # --- the tail

    def nudge(self) -> None:
        """Something was appended (from any thread): read it now rather than at the next poll."""
        loop, wake = self._loop, self._wake
        if self._watching and loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the server stopping)
                loop.call_soon_threadsafe(wake.set)

    def _start(self, head: int) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.position = head
        self._task = asyncio.ensure_future(self._tail())
        if self._hear_appends is None or not self._hear_appends(self.nudge):
            threading.Thread(target=self.backend.listen, name="watch-wakeups", daemon=True,
                             args=(EVENTS_CHANNEL, self._stop_listening, self.nudge, lambda _: self.nudge())).start()

    async def _tail(self) -> None:
        assert self._wake is not None
        while not self.closed:
            if not self._watching:  # each write would cost a read of the log for no one (a fifth of the writes/s)
                self._parked = True
                self._wake.clear()
                await self._wake.wait()
                self._parked = False
                continue
            self._wake.clear()  # before the read: an append it may have missed wakes the wait below at once
            try:
                events = await to_thread.run_sync(self._read, self.position)
                if events:
                    await self._load_priors(self.fold, events)
                    self._publish(events)
                    if len(events) == READ_BATCH:
                        continue  # more are waiting; a shorter batch reached the end (no read that finds nothing)
            except Exception:
                log.exception("reading the log for watches failed; retrying in 1 s")
                await asyncio.sleep(1.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)

    def _publish(self, events: list[LoggedEvent]) -> None:
        for event in events:
            change = self.fold.apply(event)
            for watcher in self._candidates(change):
                watcher.offer(change)
                if watcher.cut_off is not None:
                    self._detach(watcher)
                    self.cut_off += 1
            self.position = event.position  # event by event: a failure mid-batch resumes after the last one

    def _read(self, after: int) -> list[LoggedEvent]:
        return [decode_whole(*row) for row in self.events.after(after, READ_BATCH)]

    async def _load_priors(self, fold: ChangeFold, events: list[LoggedEvent]) -> None:
        missing = fold.missing(events)
        if missing:
            documents = await to_thread.run_sync(self._documents_at, missing)
            for stream_id, (version, document) in documents.items():
                fold.remember(stream_id, version, document)

    def _documents_at(self, versions: dict[str, int]) -> dict[str, tuple[int, JobDocument]]:
        found = {}
        for stream_id, version in versions.items():
            stream = [decode_whole(p.position, stream_id, p.stored.originator_version, p.stored.topic,
                                   p.stored.state) for p in self.events.stream(UUID(stream_id))]
            found[stream_id] = (version, document_at(stream, version))
        return found

    async def close(self) -> None:
        """End every watch, each with a last bookmark, and stop tailing."""
        self.closed = True
        self._stop_listening.set()
        for watcher in self._watching:
            if watcher.replay is not None:
                watcher.replay.cancel()
            watcher.wake()
        if self._task is not None:
            self._task.cancel()

