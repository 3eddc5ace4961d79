"""The projection engine: reads the global log in batches and advances each view, and the log's Merkle tree,
exactly once.

One read of the log serves every view and the tree; each view's batch is committed in one transaction with that
view's position, guarded by the position it started from, so a worker that lost a race (another worker advanced
the view) writes nothing and rereads. The tree is committed the same way by the worker that projects FULL: in FULL's
transaction for a small batch, in its own for a large one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from jobstore.domain.enums import JobView
from jobstore.projections.render import VIEWS
from jobstore.projections.rows import LoggedEvent, ViewRow, fold, shown_in, streams_to_read

log = logging.getLogger("jobstore.projections")
Progress = Callable[[int, int], None]


class EventLog(Protocol):
    """The global, commit-ordered log of every job's events."""

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]: ...

    def head(self) -> int: ...


Alongside = Callable[[Any], bool]
"""More work for a view's commit transaction, given its cursor; False refuses the whole commit."""


class ViewStore(Protocol):
    """Where view rows and view positions live."""

    def position(self, view: JobView) -> int: ...

    def rows(self, view: JobView, stream_ids: Sequence[str]) -> dict[str, ViewRow]: ...

    def commit(self, view: JobView, rows: Sequence[ViewRow], from_position: int, to_position: int,
               alongside: Alongside | None = None) -> bool:
        """Write `rows` and move the view from `from_position` to `to_position` in one transaction, with
        `alongside` in it.

        Returns False, writing nothing, when the view is no longer at `from_position` (or `alongside` refused).
        """
        ...


class LogTree(Protocol):
    """The Merkle tree over the log (domain.merkle): its leaves are the events' chain hashes, in log order."""

    def position(self) -> int: ...

    def append(self, events: Sequence[LoggedEvent], from_position: int, to_position: int) -> bool:
        """Append `events` and move the tree from `from_position` to `to_position` in one transaction; False,
        writing nothing, when the tree is no longer at `from_position`."""
        ...

    def appending(self, events: Sequence[LoggedEvent], from_position: int, to_position: int) -> Alongside:
        """The same append, to run inside a view's commit: one transaction less per batch."""
        ...


TREE_RIDES_ALONG = 500  # events: a smaller tree batch goes in FULL's transaction, a larger one (catching up) in
# its own, committed while the views commit theirs (measured: 0.73x of catch-up without the tree when it rode
# along with 5,000-event batches)


TREE_POSITION_REREAD_SECONDS = 1.0  # the tree's position is read again at least this often (say, after an
# operator emptied its tables to have it rebuilt), and otherwise known from this engine's own commits


class RowsInFlight(Exception):
    """A fold needs rows that a commit still in flight is writing: settle it first."""


@dataclass
class ViewWrite:
    view: JobView
    start: int
    rows: list[ViewRow]
    events: int


@dataclass
class Overlay:
    """Rows of `view` as they stand once the view reaches `position`, by stream."""

    view: JobView
    position: int
    rows: dict[str, ViewRow]


@dataclass
class TreeWrite:
    start: int
    events: list[LoggedEvent]


@dataclass
class Batch:
    end: int
    writes: list[ViewWrite]
    overlay: Overlay | None
    tree: TreeWrite | None = None


@dataclass
class Commit:
    view: JobView | None  # None: the tree
    events: int
    position: int
    committed: Future[bool]


class ProjectionEngine:
    def __init__(self, event_log: EventLog, store: ViewStore, views: Sequence[JobView] = VIEWS,
                 batch_size: int = 1000, tree: LogTree | None = None) -> None:
        self.event_log = event_log
        self.store = store
        self.views = tuple(views)
        self.batch_size = batch_size
        self.tree = tree
        self.wake = threading.Event()
        self._advanced = threading.Condition()
        self._reached: dict[JobView, int] = {}
        self._tree_reached: int | None = None
        self._tree_read_at = 0.0
        self._committer = ThreadPoolExecutor(max_workers=len(self.views) + 1,
                                             thread_name_prefix="jobstore-view-commit")

    def _tree_position(self, views: Sequence[JobView], known: bool = True) -> int | None:
        """Where the tree stands, when the worker of `views` keeps it (the one that projects FULL): where this
        engine's last commit left it, unless not `known`. (A position another worker has moved since makes the
        next commit refused, and the engine reads the position again.)"""
        if self.tree is None or JobView.FULL not in views:
            return None
        now = time.monotonic()
        if not known or self._tree_reached is None or now - self._tree_read_at > TREE_POSITION_REREAD_SECONDS:
            self._tree_reached, self._tree_read_at = self.tree.position(), now
        return self._tree_reached

    def step(self, views: Sequence[JobView] | None = None) -> int:
        """Apply one batch of the log to each of `views` (default: all), and to the tree when FULL is among them;
        returns events consumed (per view and tree, summed)."""
        views = self.views if views is None else tuple(views)
        batch = self._prepare(views, {view: self.store.position(view) for view in views}, overlay=None,
                              tree_at=self._tree_position(views))
        return 0 if batch is None else self._settle(self._submit(batch))[0]

    def catch_up(self, progress: Progress | None = None, views: Sequence[JobView] | None = None) -> int:
        """Run until every view has consumed the whole log as it stands now.

        While one batch is being committed the next is read and folded: the rows that batch wrote are known
        without reading them back. If a commit is refused, the batch folded on top of it is dropped and the
        engine starts again from the positions stored.
        """
        views = self.views if views is None else tuple(views)
        positions = {view: self.store.position(view) for view in views}
        tree_at = self._tree_position(views)
        goal = (self.event_log.head() * (len(views) + (tree_at is not None)) - sum(positions.values())
                - (tree_at or 0)) if progress else 0
        total = 0
        overlay: Overlay | None = None
        in_flight: list[Commit] = []
        while True:
            try:
                batch = self._prepare(views, positions, overlay,
                                      frozenset(c.view for c in in_flight if c.view is not None), tree_at)
            except RowsInFlight:
                batch = None
                in_flight_blocked = True
            else:
                in_flight_blocked = False
            if in_flight:
                consumed, all_committed = self._settle(in_flight)
                total += consumed
                if progress:
                    progress(total, max(goal, total))
                in_flight = []
                if not all_committed:
                    positions = {view: self.store.position(view) for view in views}
                    tree_at = self._tree_position(views, known=False)
                    overlay = None
                    continue
            if in_flight_blocked:
                batch = self._prepare(views, positions, overlay=None, tree_at=tree_at)
            if batch is None:
                return total
            in_flight = self._submit(batch)
            positions.update({write.view: batch.end for write in batch.writes})
            if batch.tree is not None:
                tree_at = batch.end
            overlay = batch.overlay

    def _prepare(self, views: Sequence[JobView], positions: dict[JobView, int], overlay: Overlay | None,
                 in_flight: frozenset[JobView] = frozenset(), tree_at: int | None = None) -> Batch | None:
        """Read the next batch after the view (or the tree, at `tree_at` when kept) furthest behind and fold it
        for each view.

        Views that stand at the same position share one fold: FULL holds everything BASIC shows. `overlay`
        holds rows as they will stand once the commits in flight land; they are not read from the store.
        Raises RowsInFlight when the fold would need stored rows of a view with a commit `in_flight`.
        """
        events = self.event_log.read(min([*positions.values(), *([] if tree_at is None else [tree_at])]),
                                     self.batch_size)
        if not events:
            return None
        folded: dict[int, list[ViewRow]] = {}
        batch = Batch(end=events[-1].position, writes=[], overlay=None)
        if tree_at is not None:
            leaves = [e for e in events if e.position > tree_at]
            if leaves:
                batch.tree = TreeWrite(tree_at, leaves)
        for view in sorted(views, key=lambda v: v is not JobView.FULL):  # FULL first: the others derive from it
            start = positions[view]
            mine = [e for e in events if e.position > start]
            if not mine:
                continue
            if start in folded:
                rows = [shown_in(view, row) for row in folded[start]]
            else:
                richest = JobView.FULL if JobView.FULL in views and positions[JobView.FULL] == start else view
                rows = fold(richest, mine, self._current_rows(richest, start, mine, overlay, in_flight))
                folded[start] = rows
                if len(folded) == 1:
                    batch.overlay = Overlay(richest, batch.end, {row.stream_id: row for row in rows})
                if richest is not view:
                    rows = [shown_in(view, row) for row in rows]
            batch.writes.append(ViewWrite(view, start, rows, len(mine)))
        return batch

    def _current_rows(self, view: JobView, start: int, events: Sequence[LoggedEvent], overlay: Overlay | None,
                      in_flight: frozenset[JobView]) -> dict[str, ViewRow]:
        needed = streams_to_read(events)
        if overlay is None or overlay.view is not view or overlay.position != start:
            if view in in_flight:
                raise RowsInFlight
            return self.store.rows(view, needed)
        known = {stream: overlay.rows[stream] for stream in needed if stream in overlay.rows}
        return {**self.store.rows(view, [stream for stream in needed if stream not in known]), **known}

    def _submit(self, batch: Batch) -> list[Commit]:
        """Commit each view's rows in its own transaction, concurrently; the step's context goes along. The tree
        goes in FULL's transaction when the batch writes FULL, in its own otherwise."""
        commits = []
        tree, tree_commit = batch.tree, None
        for write in batch.writes:
            alongside = None
            if tree is not None and write.view is JobView.FULL and len(tree.events) <= TREE_RIDES_ALONG:
                assert self.tree is not None, "a tree write comes from a tree"
                alongside = self.tree.appending(tree.events, tree.start, batch.end)
            committed = self._committer.submit(copy_context().run, self.store.commit, write.view, write.rows,
                                               write.start, batch.end, alongside)
            committed.add_done_callback(partial(self._note_reached, write.view, batch.end))
            commits.append(Commit(write.view, write.events, batch.end, committed))
            if alongside is not None:
                tree_commit = committed
        if tree is not None:
            assert self.tree is not None, "a tree write comes from a tree"
            if tree_commit is None:
                tree_commit = self._committer.submit(copy_context().run, self.tree.append, tree.events, tree.start,
                                                     batch.end)
            commits.append(Commit(None, len(tree.events), batch.end, tree_commit))
        return commits

    def _note_reached(self, view: JobView, position: int, committed: Future[bool]) -> None:
        if committed.exception() is None and committed.result():
            with self._advanced:
                self._reached[view] = max(self._reached.get(view, 0), position)
                self._advanced.notify_all()

    def _settle(self, commits: list[Commit]) -> tuple[int, bool]:
        """Wait for the commits: (events consumed, summed over views; whether every view committed)."""
        consumed, all_committed = 0, True
        for commit in commits:
            if commit.committed.result():
                consumed += commit.events
                if commit.view is not None:
                    self._note_reached(commit.view, commit.position, commit.committed)
                else:
                    self._tree_reached = commit.position
            else:
                all_committed = False
                if commit.view is None:
                    self._tree_reached = None
        return consumed, all_committed

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def run(self, stop: threading.Event, idle_seconds: float = 0.5,
            views: Callable[[], Sequence[JobView]] | None = None) -> None:
        """Keep the views current until `stop` is set; `wake` cuts the idle wait short after a write.

        `views` says which views this worker may project right now (default: all).
        """
        while not stop.is_set():
            busy = 0
            try:
                mine = self.views if views is None else tuple(views())
                if mine:
                    busy = self.catch_up(views=mine)
            except Exception:
                log.exception("a projection batch failed; it was rolled back whole and will be retried")
                stop.wait(1.0)
            if not busy:
                self.wake.wait(idle_seconds)
                self.wake.clear()

    def known_reached(self, position: int) -> bool:
        """Whether every view is known, from this process's own commits, to have reached `position`."""
        return all(self._reached.get(v, 0) >= position for v in self.views)

    def reached(self, position: int) -> bool:
        """Whether every view is known to have consumed the log up to `position`."""
        if all(self._reached.get(v, 0) >= position for v in self.views):
            return True
        for view in self.views:
            self._reached[view] = max(self._reached.get(view, 0), self.store.position(view))
        return all(self._reached[v] >= position for v in self.views)

    def wait_for(self, position: int, timeout: float) -> bool:
        """Block until every view has reached `position` (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        self.wake.set()
        with self._advanced:
            while not self.reached(position):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._advanced.wait(min(remaining, 0.01))
        return True
