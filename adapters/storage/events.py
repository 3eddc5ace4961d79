"""Reads of the event store's own table that the library has no call for: a stream with global positions, one
event by version, the log after a position. Nothing here writes: the service never updates or deletes an
event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from jobstore.adapters.storage.backend import Backend, EventRow
from jobstore.adapters.storage.database import Database
from jobstore.adapters.storage.pages import read_page

UNLIMITED = 2**62  # a count that limits nothing


@dataclass(frozen=True)
class PositionedEvent:
    position: int
    stored: StoredEvent


class EventTable:
    """The library's events table (its name and columns are the backend's to say)."""

    def __init__(self, backend: Backend, db: Database | None = None) -> None:
        self.backend = backend
        self.db = db or backend.db
        self.table, self.position = backend.events_table, backend.position_column

    def stream(self, stream: UUID) -> list[PositionedEvent]:
        """A stream's events, oldest first, with their places in the global log."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {self.position}, originator_version, topic, state FROM {self.table} "
                           "WHERE originator_id = ? ORDER BY originator_version", (self.backend.stream_key(stream),))
            rows = cursor.fetchall()
        return [PositionedEvent(int(p), StoredEvent(stream, int(v), t, bytes(s))) for p, v, t, s in rows]

    def log_page(self, after: int, limit: int, max_bytes: int) -> tuple[list[PositionedEvent], bool]:
        """Up to `limit` events after global position `after`, in log order, whose stored states hold at most
        `max_bytes` together (the first comes whatever its size); and whether more follow."""
        return self._page(f"{self.position} > ?", [after], self.position, limit, max_bytes)

    def stream_page(self, stream: UUID, after_version: int, max_bytes: int) -> tuple[list[PositionedEvent], bool]:
        """A stream's events after `after_version`, oldest first, cut as `log_page` cuts."""
        return self._page("originator_id = ? AND originator_version > ?",
                          [self.backend.stream_key(stream), after_version], "originator_version", UNLIMITED,
                          max_bytes)

    def _page(self, where: str, params: list[object], order: str, limit: int,
              max_bytes: int) -> tuple[list[PositionedEvent], bool]:
        columns = [self.position, self.backend.stream_as_text, "originator_version", "topic", "state"]
        with self.db.transaction(write=False) as cursor:
            records, more = read_page(cursor, self.backend, columns, 4, self.table, where, params, order, limit,
                                      max_bytes)
        return [PositionedEvent(int(position), StoredEvent(UUID(str(stream)), int(version), topic, bytes(state)))
                for position, stream, version, topic, state in records], more

    def event(self, stream: UUID, version: int) -> StoredEvent | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT topic, state FROM {self.table} WHERE originator_id = ? AND originator_version = ?",
                           (self.backend.stream_key(stream), version))
            row = cursor.fetchone()
        return None if row is None else StoredEvent(stream, version, row[0], bytes(row[1]))

    def at(self, position: int) -> StoredEvent | None:
        """The event at global position `position`."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {self.backend.stream_as_text}, originator_version, topic, state FROM {self.table} "
                           f"WHERE {self.position} = ?", (position,))
            row = cursor.fetchone()
        return None if row is None else StoredEvent(UUID(str(row[0])), int(row[1]), row[2], bytes(row[3]))

    def after(self, position: int, limit: int) -> list[EventRow]:
        """Up to `limit` events after `position`, in log order."""
        with self.db.transaction(write=False, binary=True) as cursor:
            cursor.execute(f"SELECT {self.position}, {self.backend.stream_as_text}, originator_version, topic, state "
                           f"FROM {self.table} WHERE {self.position} > ? ORDER BY {self.position} LIMIT ?",
                           (position, limit))
            return self.backend.event_rows(cursor.fetchall())

    def head(self) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT MAX({self.position}) FROM {self.table}")
            row = cursor.fetchone()
        return int(row[0] or 0)

    def version_at(self, stream: UUID, moment: datetime) -> int | None:
        """The last version of a stream recorded at or before `moment`: 0 when its first event is later, None
        when the stream has no events."""
        return self.backend.version_at(self.db, stream, moment)

    def last_version(self, stream: UUID) -> int | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT MAX(originator_version) FROM {self.table} WHERE originator_id = ?",
                           (self.backend.stream_key(stream),))
            row = cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def streams(self) -> list[UUID]:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT DISTINCT originator_id FROM {self.table}")
            return [value if isinstance(value, UUID) else UUID(str(value)) for (value,) in cursor.fetchall()]

    def count(self) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table}")
            return int(cursor.fetchone()[0])
