"""The global event log as the projection engine reads it: the event store's table, in commit order."""
from __future__ import annotations

from collections.abc import Sequence

from adapters.storage.events import EventTable
from projections.decode import decode
from projections.rows import LoggedEvent


class EventStoreLog:
    """Reads the events table directly (plain tuples, no domain objects); decoding is projections.decode.

    On PostgreSQL the event store inserts under a table lock, so positions are assigned in commit order and
    reading "after position P" never skips an event that commits later.
    """

    def __init__(self, events: EventTable) -> None:
        self.events = events

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]:
        return [decode(*row) for row in self.events.after(after, limit)]

    def head(self) -> int:
        return self.events.head()
