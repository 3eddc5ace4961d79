"""What differs between the two stores, behind one strategy object per store, chosen once when the store opens
(`open_backend`). No other module asks which store it runs on (tests/unit/test_code_rules.py checks)."""
from __future__ import annotations

import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.database import Cursor, Database
from jobstore.domain.enums import JobView
from jobstore.projections.rows import ViewRow

if TYPE_CHECKING:
    from jobstore.adapters.storage.standby import ReadRoute, StandbyPositions

T = TypeVar("T")
EventRow = tuple[int, str, int, str, bytes]  # position, stream id (canonical text), version, topic, state
# A view table's position as one record (0 before its first batch), to join its rows to: one statement reads
# both from one snapshot, so that the rows read hold exactly the events up to that position.
VIEW_POSITION = "COALESCE(at.view_position, 0)"
POSITION_OF_TABLE = "(SELECT MAX(position) AS view_position FROM projection_positions WHERE table_name = ?) AS at"
EVENTS_CHANNEL = "jobstore_events"  # the event store NOTIFYs this channel in every append (PostgreSQL)
KEYS_CHANNEL = "jobstore_keys"  # NOTIFYed when an API key is revoked (PostgreSQL)


@dataclass(frozen=True)
class StandbyLag:
    """A streaming standby as its primary sees it: how far its replay trails the primary's WAL."""

    name: str  # its application_name
    address: str
    state: str  # streaming, catchup, ...
    sync_state: str  # async, sync, quorum, potential
    lag_bytes: int
    lag_seconds: float


class ViewLocks(ABC):
    """Which views this process may project right now."""

    @abstractmethod
    def current(self) -> tuple[JobView, ...]: ...

    def close(self) -> None:
        return None


class AllViews(ViewLocks):
    """Every view, always: one host, one store file."""

    def __init__(self, views: Sequence[JobView]) -> None:
        self.views = tuple(views)

    def current(self) -> tuple[JobView, ...]:
        return self.views


class Backend(ABC):
    """One store: its connections, the event store's table and settings, schema creation, how view rows are
    written and read, notifications between processes, and which process projects which view."""

    db: Database
    reads: Database  # where reads of views and of the log go: the db, or hot standbys (standby.py)
    read_route: ReadRoute | None = None  # which server answers reads, when standbys are configured
    standby_positions: StandbyPositions | None = None
    description: str  # for people: which store this is
    events_table: str  # the event store's table of events
    position_column: str  # its global, commit-ordered position
    stream_as_text: str  # SQL: an event's stream id as text
    bytes_type: str  # SQL: the type of a column of bytes
    size_in_bytes: str  # SQL: the size in bytes of a text (as UTF-8) or binary value, "{}" standing for it
    recorded_at: str  # SQL: when an event was recorded, read inside the database from its stored JSON
    append_only: tuple[str, ...]  # statements that make the events table refuse changes

    # --- the event store

    @abstractmethod
    def event_store_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for this store."""

    @abstractmethod
    def stream_key(self, stream: UUID) -> object:
        """A stream id as the events table keys it."""

    @abstractmethod
    def event_rows(self, rows: list[Any]) -> list[EventRow]:
        """Rows read as (position, stream_as_text, version, topic, state), in plain Python types."""

    def standby_event_store_env(self) -> dict[str, str] | None:
        """The eventsourcing library's settings for reading the standbys, if reads go to any."""
        return None

    @abstractmethod
    def version_at(self, db: Database, stream: UUID, moment: datetime) -> int | None:
        """The last version of a stream recorded at or before `moment`: 0 when its first event is later, None
        when the stream has no events."""

    # --- schema

    def schema_lock(self) -> AbstractContextManager[None]:
        """Held while this process creates or upgrades the schema (the event store's tables and jobstore's)."""
        return contextlib.nullcontext()

    @abstractmethod
    def ddl(self) -> AbstractContextManager[Cursor]:
        """A cursor to create tables with, while other processes may be writing."""

    @abstractmethod
    def table_columns(self, cursor: Cursor, table: str) -> set[str]: ...

    @abstractmethod
    def store_uncompressed(self, cursor: Cursor, table: str, columns: Sequence[str]) -> None:
        """Large values of `columns` are kept as they are, never compressed."""

    # --- views

    @abstractmethod
    def upsert_rows(self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[ViewRow]) -> None:
        """Insert `rows` into the view table, replacing the rows of the same streams."""

    TILE_COLUMNS = "level, tile, hashes, positions, last_position"
    TILE_UPSERT = ("ON CONFLICT (level, tile) DO UPDATE SET hashes = excluded.hashes, positions = excluded.positions, "
                   "last_position = excluded.last_position")

    def grow_tree(self, cursor: Cursor, size: int, added: int, from_position: int, to_position: int,
                  tiles: Sequence[Sequence[Any]]) -> bool:
        """Move the log's Merkle tree from (`size`, `from_position`) on by `added` leaves to `to_position` and
        write its changed `tiles` (rows of TILE_COLUMNS); False, writing nothing, when the tree is elsewhere."""
        cursor.execute("UPDATE log_tree SET size = size + ?, position = ? WHERE name = 'log' AND size = ? AND "
                       "position = ?", (added, to_position, size, from_position))
        if cursor.rowcount != 1:
            return False
        placeholders = ", ".join(["(?, ?, ?, ?, ?)"] * len(tiles))
        cursor.execute(f"INSERT INTO log_tree_tiles ({self.TILE_COLUMNS}) VALUES {placeholders} {self.TILE_UPSERT}",
                       [value for row in tiles for value in row])
        return True

    @abstractmethod
    def is_missing_table(self, error: Exception) -> bool: ...

    # Lookups by job id that arrive together share one query (storage/coalesce.py): worth it where each query is
    # a round trip to a server; SQLite reads in place, in microseconds, and gathering costs more than it saves.
    gathers_lookups = True

    @abstractmethod
    async def rows_by_job_id(self, table: str, columns: str, job_ids: Sequence[str]) -> list[Any]:
        """The position of the view table `table`, then `columns` (of its rows, named `v`), of the rows holding
        `job_ids`, read in one statement from the event loop: at least one record, all NULL but the position
        when none is found."""

    @abstractmethod
    async def point_read(self, read: Callable[[], T]) -> T:
        """A read of a few rows by key, from the event loop."""

    # --- between processes

    def notify(self, cursor: Cursor, channel: str) -> None:
        """Tell the other processes on this store that something changed on `channel` (if they can listen)."""
        return None

    def committed_elsewhere(self) -> bool | None:
        """Whether any other connection committed since this thread last asked, or None when the store cannot
        tell cheaply (it has `listen` instead)."""
        return None

    def listen(self, channel: str, stop: threading.Event, heard: Callable[[], None],
               listening: Callable[[bool], None]) -> bool:
        """Call `heard` on every notification of `channel` until `stop`, reconnecting as needed; `listening`
        says whether notifications can currently be heard. False at once when this store has none."""
        return False

    def view_locks(self, views: Sequence[JobView]) -> ViewLocks:
        return AllViews(views)

    # --- replication

    def standbys(self) -> list[StandbyLag]:
        """The standbys streaming from this store's server, with their replay lag (none for an embedded store)."""
        return []

    def read_server(self, probe: bool = False) -> str:
        """Which server answers reads now: "primary" (the only one), "standby", or "none" (no standby answers
        and reads may not fall back). With `probe`, the standby is tried first."""
        if self.read_route is None:
            return "primary"
        if probe:
            self.read_route.check()
        return self.read_route.server

    async def aclose(self) -> None:
        """Close what the event loop opened."""
        return None

    def close(self) -> None:
        self.db.close()


def open_backend(settings: Settings) -> Backend:
    """The one place that decides which store `settings` name."""
    if settings.database_url:
        from jobstore.adapters.storage.postgres import PostgresBackend

        return PostgresBackend(settings)
    from jobstore.adapters.storage.sqlite import SQLiteBackend

    return SQLiteBackend(settings)

