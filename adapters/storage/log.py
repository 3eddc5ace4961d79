"""The global event log as the projection engine reads it: the event store's table, in commit order."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from jobstore.adapters.storage.codec import decode_for_views
from jobstore.adapters.storage.events import EventTable
from jobstore.projections.rows import LoggedEvent


class EventStoreLog:
    """Reads the events table directly (plain tuples, no domain objects), decoded by the storage codec.

    On PostgreSQL the event store inserts under a table lock, so positions are assigned in commit order and
    reading "after position P" never skips an event that commits later.

    While catching up (a read filled its whole batch), the next batch is read ahead in a background thread, so
    that the database reads it while the engine folds and writes this one. A batch read ahead is still a
    prefix of the log after its position: events committed later are read by the batch after it.
    """

    def __init__(self, events: EventTable) -> None:
        self.events = events
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jobstore-log-read-ahead")
        self._ahead: tuple[tuple[int, int], Future[list[LoggedEvent]]] | None = None
        self._lock = threading.Lock()

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]:
        with self._lock:
            ahead, self._ahead = self._ahead, None
        wanted = (after, limit)
        events = ahead[1].result() if ahead and ahead[0] == wanted else self._read(*wanted)
        if len(events) == limit:
            with self._lock:
                following = (events[-1].position, limit)
                self._ahead = (following, self._reader.submit(self._read, *following))
        return events

    def _read(self, after: int, limit: int) -> list[LoggedEvent]:
        return [decode_for_views(*row) for row in self.events.after(after, limit)]

    def head(self) -> int:
        return self.events.head()

    def close(self) -> None:
        self._reader.shutdown(wait=True, cancel_futures=True)
