"""Reads of the event store's own table that the library has no call for: a stream with global positions, and
one event by version. Nothing here writes: the service never updates or deletes an event."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from jobstore.adapters.storage.codec import RECORDED_AT_PATH
from jobstore.adapters.storage.database import Database


def _bytes(state: bytes | memoryview | str) -> bytes:
    return state.encode() if isinstance(state, str) else bytes(state)


# When an event was recorded, read inside the database without decoding the whole event.
_RECORDED_AT = {"sqlite": f"json_extract(CAST(state AS TEXT), '$.{'.'.join(RECORDED_AT_PATH)}')",
                "postgres": f"convert_from(state, 'UTF8')::jsonb #>> '{{{','.join(RECORDED_AT_PATH)}}}'"}


@dataclass(frozen=True)
class PositionedEvent:
    position: int
    stored: StoredEvent


class EventTable:
    """The library's events table: `stored_events` on SQLite, `jobstore_events` on PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        if db.dialect == "sqlite":
            self.table, self.position = "stored_events", "rowid"
        else:
            self.table, self.position = "jobstore_events", "notification_id"

    def _id(self, stream: UUID) -> str | UUID:
        return stream.hex if self.db.dialect == "sqlite" else stream

    def stream(self, stream: UUID, upto_version: int | None = None) -> list[PositionedEvent]:
        """A stream's events, oldest first, with their places in the global log."""
        limit = "" if upto_version is None else " AND originator_version <= ?"
        params: tuple[object, ...] = (self._id(stream),) if upto_version is None else (self._id(stream),
                                                                                       upto_version)
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {self.position}, originator_version, topic, state FROM {self.table} "
                           f"WHERE originator_id = ?{limit} ORDER BY originator_version", params)
            rows = cursor.fetchall()
        return [PositionedEvent(int(p), StoredEvent(stream, int(v), t, _bytes(s))) for p, v, t, s in rows]

    def event(self, stream: UUID, version: int) -> StoredEvent | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT topic, state FROM {self.table} WHERE originator_id = ? AND originator_version = ?",
                           (self._id(stream), version))
            row = cursor.fetchone()
        return None if row is None else StoredEvent(stream, version, row[0], _bytes(row[1]))

    def after(self, position: int, limit: int) -> list[tuple[int, str, int, str, bytes]]:
        """(position, stream id, version, topic, state) of up to `limit` events after `position`, in log order."""
        stream_column = "originator_id" if self.db.dialect == "sqlite" else "originator_id::text"
        with self.db.transaction(write=False, binary=True) as cursor:
            cursor.execute(f"SELECT {self.position}, {stream_column}, originator_version, topic, state "
                           f"FROM {self.table} WHERE {self.position} > ? ORDER BY {self.position} LIMIT ?",
                           (position, limit))
            rows: list[tuple[int, str, int, str, bytes]] = cursor.fetchall()
        if self.db.dialect == "sqlite":
            return [(int(p), str(UUID(str(o))), int(v), t, _bytes(s)) for p, o, v, t, s in rows]
        return rows

    def head(self) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT MAX({self.position}) FROM {self.table}")
            row = cursor.fetchone()
        return int(row[0] or 0)

    def recorded_at(self, stream: UUID, version: int) -> datetime | None:
        """When an event was recorded, read inside the database without decoding the whole event."""
        field = _RECORDED_AT[self.db.dialect]
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {field} FROM {self.table} "
                           "WHERE originator_id = ? AND originator_version = ?",
                           (self._id(stream), version))
            row = cursor.fetchone()
        return None if row is None or row[0] is None else datetime.fromisoformat(str(row[0]))

    def version_at(self, stream: UUID, moment: datetime) -> int | None:
        """The last version of a stream recorded at or before `moment`: 0 when its first event is later, None
        when the stream has no events. A binary search over the versions; on PostgreSQL in one query, so that a
        request pays one round trip instead of one per step."""
        if self.db.dialect == "sqlite":
            return self._version_at_step_by_step(stream, moment)
        field = _RECORDED_AT["postgres"]
        with self.db.transaction(write=False) as cursor:
            cursor.execute(
                f"WITH RECURSIVE search(low, high) AS ("
                f" SELECT 0::bigint, MAX(originator_version)::bigint FROM {self.table} WHERE originator_id = ?"
                f" UNION ALL"
                f" SELECT CASE WHEN at <= ? THEN middle ELSE low END, CASE WHEN at <= ? THEN high ELSE middle - 1 END"
                f" FROM (SELECT low, high, (low + high + 1) / 2 AS middle FROM search WHERE low < high) AS step"
                f" CROSS JOIN LATERAL (SELECT ({field})::timestamptz AS at FROM {self.table}"
                f" WHERE originator_id = ? AND originator_version = step.middle)"
                f" AS event) "
                f"SELECT low FROM search WHERE low = high", (stream, moment, moment, stream))
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    def _version_at_step_by_step(self, stream: UUID, moment: datetime) -> int | None:
        low, high = 0, self.last_version(stream)
        if high is None:
            return None
        while low < high:
            middle = (low + high + 1) // 2
            recorded = self.recorded_at(stream, middle)
            assert recorded is not None, f"stream {stream} has no event {middle}"
            if recorded <= moment:
                low = middle
            else:
                high = middle - 1
        return low

    def last_version(self, stream: UUID) -> int | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT MAX(originator_version) FROM {self.table} WHERE originator_id = ?",
                           (self._id(stream),))
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
