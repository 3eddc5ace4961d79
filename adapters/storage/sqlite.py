"""The embedded store: one SQLite file in $JOBSTORE_HOME, for one host and one `jobstore serve`."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec

from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.backend import POSITION_OF_TABLE, VIEW_POSITION, Backend, EventRow, T
from jobstore.adapters.storage.codec import RECORDED_AT_PATH
from jobstore.adapters.storage.database import Cursor, Database, DatabaseUnavailable
from jobstore.projections.rows import ViewRow

_encode = msgspec.json.Encoder().encode  # writes the parts of documents still encoded (msgspec.Raw) as they are


class SQLiteDatabase:
    """One connection per thread, in WAL mode: readers never wait for the writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, write: bool = True, binary: bool = False) -> Iterator[Cursor]:
        conn = self._connection()
        cursor = conn.cursor()
        if not write:  # as on PostgreSQL, a read runs in autocommit: BEGIN and COMMIT were two more statements
            try:
                yield cursor
            finally:
                cursor.close()
            return
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise DatabaseUnavailable(f"SQLite database {self.path} is busy or unreadable: {e}") from e
        try:
            yield cursor
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    def committed_elsewhere(self) -> bool:
        """Whether another connection, of this process or another, committed to the file since this thread last
        asked (SQLite's data_version: read from the shared WAL index, no table is touched)."""
        (version,) = self._connection().execute("PRAGMA data_version").fetchone()
        last = getattr(self._local, "data_version", None)
        self._local.data_version = version
        return bool(version != last)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class SQLiteBackend(Backend):
    # The library names its SQLite tables itself, whatever the application's name.
    events_table = "stored_events"
    position_column = "rowid"
    stream_as_text = "originator_id"  # stored as 32 hex digits
    bytes_type = "BLOB"
    size_in_bytes = "length(CAST({} AS BLOB))"
    recorded_at = f"json_extract(CAST(state AS TEXT), '$.{'.'.join(RECORDED_AT_PATH)}')"
    append_only = (
        "CREATE TRIGGER IF NOT EXISTS stored_events_refuse_update BEFORE UPDATE ON stored_events "
        "BEGIN SELECT RAISE(ABORT, 'jobstore events are append-only: UPDATE refused'); END",
        "CREATE TRIGGER IF NOT EXISTS stored_events_refuse_delete BEFORE DELETE ON stored_events "
        "BEGIN SELECT RAISE(ABORT, 'jobstore events are append-only: DELETE refused'); END",
    )

    gathers_lookups = False

    def __init__(self, settings: Settings) -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        self.path = settings.sqlite_path
        self.db: SQLiteDatabase = SQLiteDatabase(self.path)
        self.reads = self.db
        self.description = f"SQLite at {self.path}"

    def event_store_env(self) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(self.path),
                "SQLITE_LOCK_TIMEOUT": "30"}

    def stream_key(self, stream: UUID) -> object:
        return stream.hex

    def event_rows(self, rows: list[Any]) -> list[EventRow]:
        return [(int(p), str(UUID(str(o))), int(v), t, bytes(s)) for p, o, v, t, s in rows]

    def version_at(self, db: Database, stream: UUID, moment: datetime) -> int | None:
        """A binary search over the stream's versions, one local read per step."""
        with db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT MAX(originator_version) FROM {self.events_table} WHERE originator_id = ?",
                           (stream.hex,))
            last = cursor.fetchone()[0]
            if last is None:
                return None
            low, high = 0, int(last)
            while low < high:
                middle = (low + high + 1) // 2
                cursor.execute(f"SELECT {self.recorded_at} FROM {self.events_table} "
                               "WHERE originator_id = ? AND originator_version = ?", (stream.hex, middle))
                recorded = datetime.fromisoformat(str(cursor.fetchone()[0]))
                if recorded <= moment:
                    low = middle
                else:
                    high = middle - 1
        return low

    def ddl(self) -> AbstractContextManager[Cursor]:
        return self.db.transaction()  # one transaction

    def table_columns(self, cursor: Cursor, table: str) -> set[str]:
        cursor.execute("SELECT name FROM pragma_table_info(?)", (table,))
        return {str(name) for (name,) in cursor.fetchall()}

    def store_uncompressed(self, cursor: Cursor, table: str, columns: Sequence[str]) -> None:
        """SQLite compresses nothing."""

    def upsert_rows(self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[ViewRow]) -> None:
        names = ("stream_id", "document", "version", "position", *columns)
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
        cursor.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
                           f" ON CONFLICT (stream_id) DO UPDATE SET {updates}",
                           [(row.stream_id, _encode(row.document).decode(), row.version, row.position, *row.columns)
                            for row in rows])

    def committed_elsewhere(self) -> bool:
        return self.db.committed_elsewhere()

    def is_missing_table(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.OperationalError) and "no such table" in str(error)

    async def point_read(self, read: Callable[[], T]) -> T:
        """In place, on the event loop: a lookup by key in the local file takes microseconds, less than handing
        it to a thread and back (in WAL mode a reader never waits for the writer)."""
        return read()

    async def rows_by_job_id(self, table: str, columns: str, job_ids: Sequence[str]) -> list[Any]:
        """In place, on the event loop, as `point_read`."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {VIEW_POSITION}, {columns} FROM {POSITION_OF_TABLE} "
                           f"LEFT JOIN {table} AS v ON v.job_id IN ({', '.join('?' * len(job_ids))})",
                           (table, *job_ids))
            return cursor.fetchall()
