"""The projection engine: reads the global log in batches and advances each view exactly once.

Each batch of a view is committed in one transaction with that view's position, guarded by the position it
started from; a worker that lost a race (another worker advanced the view) rereads and goes on.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from domain.enums import JobView
from projections.render import VIEWS
from projections.rows import LoggedEvent, ViewRow, fold

log = logging.getLogger("jobstore.projections")


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
                 batch_size: int = 500) -> None:
        self.log = log_
        self.store = store
        self.views = tuple(views)
        self.batch_size = batch_size
        self.wake = threading.Event()
        self._advanced = threading.Condition()
        self._reached: dict[JobView, int] = {}

    def step(self, view: JobView) -> int:
        """Apply one batch to `view`; returns how many events it consumed."""
        start = self.store.position(view)
        events = self.log.read(start, self.batch_size)
        if not events:
            return 0
        current = self.store.rows(view, sorted({e.stream_id for e in events}))
        rows = fold(view, events, current)
        if not self.store.commit(view, rows, start, events[-1].position):
            return 0
        with self._advanced:
            self._reached[view] = events[-1].position
            self._advanced.notify_all()
        return len(events)

    def catch_up(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Run every view until it has consumed the whole log as it stands now."""
        total = 0
        head = self.log.head() * len(self.views) if progress else 0
        for view in self.views:
            while consumed := self.step(view):
                total += consumed
                if progress:
                    progress(total, head)
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 0.5) -> None:
        """Keep the views current until `stop` is set; `wake` cuts the idle wait short after a write."""
        while not stop.is_set():
            try:
                busy = self.catch_up()
            except Exception:
                log.exception("projection batch failed; it was rolled back and will be retried")
                busy = 0
                stop.wait(1.0)
            if not busy:
                self.wake.wait(idle_seconds)
                self.wake.clear()

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
