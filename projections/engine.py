"""The projection engine: reads the global log in batches and advances each view exactly once.

One read of the log serves every view; each view's batch is committed in one transaction with that view's
position, guarded by the position it started from, so a worker that lost a race (another worker advanced the
view) writes nothing and rereads.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from typing import Protocol

from domain.enums import JobView
from projections.render import VIEWS
from projections.rows import LoggedEvent, ViewRow, fold, shown_in, streams_to_read

log = logging.getLogger("jobstore.projections")
Progress = Callable[[int, int], None]


class EventLog(Protocol):
    """The global, commit-ordered log of every job's events."""

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]: ...

    def head(self) -> int: ...


class ViewStore(Protocol):
    """Where view rows and view positions live."""

    def position(self, view: JobView) -> int: ...

    def rows(self, view: JobView, stream_ids: Sequence[str]) -> dict[str, ViewRow]: ...

    def commit(self, view: JobView, rows: Sequence[ViewRow], from_position: int, to_position: int) -> bool:
        """Write `rows` and move the view from `from_position` to `to_position` in one transaction.

        Returns False, writing nothing, when the view is no longer at `from_position`.
        """
        ...


class ProjectionEngine:
    def __init__(self, log_: EventLog, store: ViewStore, views: Sequence[JobView] = VIEWS,
                 batch_size: int = 1000) -> None:
        self.log = log_
        self.store = store
        self.views = tuple(views)
        self.batch_size = batch_size
        self.wake = threading.Event()
        self._advanced = threading.Condition()
        self._reached: dict[JobView, int] = {}
        self._committer = ThreadPoolExecutor(max_workers=len(self.views), thread_name_prefix="jobstore-view-commit")

    def step(self, views: Sequence[JobView] | None = None) -> int:
        """Apply one batch of the log to each of `views` (default: all); returns events consumed (per view, summed).

        The batch is read once, from the view furthest behind, and each view takes the part it has not seen.
        Views that stand at the same position share one fold: FULL holds everything BASIC shows. Each view
        commits in its own transaction; while one view's rows are being written, the next view's are built.
        """
        views = self.views if views is None else tuple(views)
        positions = {view: self.store.position(view) for view in views}
        events = self.log.read(min(positions.values()), self.batch_size)
        if not events:
            return 0
        folded: dict[int, list[ViewRow]] = {}
        commits: list[tuple[JobView, Sequence[LoggedEvent], Future[bool]]] = []
        for view in sorted(views, key=lambda v: v is not JobView.FULL):  # FULL first: the others derive from it
            start = positions[view]
            mine = [e for e in events if e.position > start]
            if not mine:
                continue
            if start in folded:
                rows = [shown_in(view, row) for row in folded[start]]
            else:
                richest = JobView.FULL if JobView.FULL in views and positions[JobView.FULL] == start else view
                current = self.store.rows(richest, streams_to_read(mine))
                rows = fold(richest, mine, current)
                folded[start] = rows
                if richest is not view:
                    rows = [shown_in(view, row) for row in rows]
            commits.append((view, mine, self._committer.submit(copy_context().run, self.store.commit, view, rows,
                                                               start, mine[-1].position)))
        consumed = 0
        for view, applied, committed in commits:
            if committed.result():
                consumed += len(applied)
                with self._advanced:
                    self._reached[view] = applied[-1].position
                    self._advanced.notify_all()
        return consumed

    def close(self) -> None:
        self._committer.shutdown(wait=True)

    def catch_up(self, progress: Progress | None = None, views: Sequence[JobView] | None = None) -> int:
        """Run until every view has consumed the whole log as it stands now."""
        views = self.views if views is None else tuple(views)
        total = 0
        goal = self.log.head() * len(views) - sum(self.store.position(v) for v in views) if progress else 0
        while consumed := self.step(views):
            total += consumed
            if progress:
                progress(total, max(goal, total))
        return total

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
