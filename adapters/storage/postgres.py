"""The production store: PostgreSQL through psycopg 3, shared by any number of jobstore processes."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from anyio import to_thread
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.backend import (
    POSITION_OF_TABLE,
    VIEW_POSITION,
    Backend,
    EventRow,
    StandbyLag,
    T,
    ViewLocks,
)
from jobstore.adapters.storage.codec import RECORDED_AT_PATH
from jobstore.adapters.storage.database import Cursor, Database, DatabaseUnavailable
from jobstore.adapters.storage.library import CONNECT_OPTIONS, POSTGRES_FACTORY_TOPIC
from jobstore.adapters.storage.postgres_lookups import LoopLookups
from jobstore.adapters.storage.standby import ReadRoute, RoutedReads, StandbyPositions, is_unreachable
from jobstore.domain.enums import JobView
from jobstore.projections.rows import ViewRow

log = logging.getLogger("jobstore.postgres")
SCHEMA_LOCK = 7_245_001  # any constant: serialises schema creation between processes
LOCK_RETRY_SECONDS = 1.0
_encode = msgspec.json.Encoder().encode  # writes the parts of documents still encoded (msgspec.Raw) as they are
_NUL_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")  # a JSON \u0000 escape (not an escaped backslash's "u0000")


def _without_nul(encoded: bytes) -> bytes:
    """JSON whose NUL characters are U+FFFD: PostgreSQL cannot turn \\u0000 into text, and requests carrying one
    are refused, but a store written before they were may hold one, and its views must still be built."""
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", encoded)


_UNREACHABLE = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)


class _Cursor:
    """A psycopg cursor that takes the `?` placeholders the shared SQL is written with."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, query: str, params: Sequence[Any] = (), /) -> Any:
        if not params:
            return self._cursor.execute(query.encode())
        return self._cursor.execute(query.replace("?", "%s").encode(), params)

    def executemany(self, query: str, params: Sequence[Sequence[Any]], /) -> Any:
        return self._cursor.executemany(query.replace("?", "%s").encode(), params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()


class PostgresDatabase:
    """Autocommit connections: a read is its statements alone (no BEGIN/COMMIT round trips); a write is one
    explicit transaction."""

    def __init__(self, connect: dict[str, Any], max_size: int = 10, timeout: float = 2) -> None:
        # A short wait for a connection: during an outage requests fail fast (UNAVAILABLE) instead of queueing.
        self.pool = ConnectionPool(kwargs=connect, min_size=1, max_size=max_size, open=True, timeout=timeout)

    @contextmanager
    def transaction(self, write: bool = True, binary: bool = False) -> Iterator[Cursor]:
        try:
            with self.pool.connection() as conn:
                if write:
                    with conn.transaction(), conn.cursor(binary=binary) as cursor:
                        yield _Cursor(cursor)
                else:
                    with conn.cursor(binary=binary) as cursor:
                        yield _Cursor(cursor)
        except _UNREACHABLE as e:
            # The server may be gone for good (a failover): let the pool replace its idle connections to it now,
            # rather than hand each of them out to fail once.
            self.pool.check()
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {e}") from e

    def close(self) -> None:
        self.pool.close()


class AdvisoryViewLocks(ViewLocks):
    """One advisory lock per view: one worker per view is active, and a standby takes over within seconds of the
    active one dying (PostgreSQL frees a dead session's locks at once)."""

    def __init__(self, backend: PostgresBackend, views: Sequence[JobView]) -> None:
        self.backend = backend
        self.views = tuple(views)
        self.held: set[JobView] = set()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> tuple[JobView, ...]:
        with self._lock:
            if time.monotonic() - self._checked >= LOCK_RETRY_SECONDS:
                self._checked = time.monotonic()
                self._refresh()
            return tuple(v for v in self.views if v in self.held)

    def _key(self, view: JobView) -> int:
        digest = hashlib.sha256(f"jobstore:{self.backend.schema}:{view.value}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def _refresh(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self.held.clear()
                self._conn = self.backend.connect()
            self._conn.execute("SELECT 1")
            for view in self.views:
                if view in self.held:
                    continue
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key(view),)).fetchone()
                if row and row[0]:
                    self.held.add(view)
                    log.info("this worker now projects %s", view.value)
        except psycopg.Error as error:
            if self.held:
                log.warning("lost the projection locks (%s); another worker may take over", error)
            self.held.clear()
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class PostgresBackend(Backend):
    events_table = "jobstore_events"  # the library's `<application name>_events`
    position_column = "notification_id"
    stream_as_text = "originator_id::text"
    bytes_type = "BYTEA"
    size_in_bytes = "octet_length({})"  # read from the TOAST header, without decompressing
    recorded_at = f"convert_from(state, 'UTF8')::jsonb #>> '{{{','.join(RECORDED_AT_PATH)}}}'"
    append_only = (
        "CREATE OR REPLACE FUNCTION jobstore_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $body$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = 'jobstore events are append-only: ' || TG_OP || ' refused'; END "
        "$body$",
        "CREATE OR REPLACE TRIGGER jobstore_events_append_only BEFORE UPDATE OR DELETE ON jobstore_events "
        "FOR EACH ROW EXECUTE FUNCTION jobstore_refuse_change()",
        "CREATE OR REPLACE TRIGGER jobstore_events_no_truncate BEFORE TRUNCATE ON jobstore_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION jobstore_refuse_change()",
    )

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.schema = settings.database_schema
        self.conninfo = settings.postgres()
        self._connect = self._connect_arguments(self.conninfo)
        self.db = PostgresDatabase(self._connect)
        self.reads = self.db
        self.description = "PostgreSQL"
        self._lookups: dict[str, LoopLookups] = {}
        self._standby_returns = 0
        if settings.read_database_url:
            self.read_conninfo = settings.postgres(settings.read_database_url)
            self._read_connect = self._connect_arguments(self.read_conninfo)
            standby = PostgresDatabase(self._read_connect, timeout=1)
            self.read_route = ReadRoute(standby, self.db, self._probe_standby, settings.read_fallback,
                                        _hosts(self.read_conninfo))
            self.read_route.on_return.append(standby.pool.check)  # its connections died with the standby
            self.reads = RoutedReads(self.read_route)
            self.standby_positions = StandbyPositions(self.read_route, self.position_column, self.events_table)

    def _connect_arguments(self, conninfo: dict[str, str]) -> dict[str, Any]:
        return {**conninfo, "options": f"-c search_path={self.schema}", "autocommit": True, "connect_timeout": 2}

    def _probe_standby(self) -> None:
        with psycopg.connect(**{**self._read_connect, "connect_timeout": 1}) as conn:
            conn.execute("SELECT 1")

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection of its own (for locks and notifications), outside the pools."""
        return psycopg.connect(**self.conninfo, autocommit=True)  # type: ignore[arg-type]

    def event_store_env(self, conninfo: dict[str, str] | None = None) -> dict[str, str]:
        pg = conninfo or self.conninfo
        extra = {key: value for key, value in pg.items() if key not in ("dbname", "host", "port", "user", "password")}
        return {
            CONNECT_OPTIONS: msgspec.json.encode(extra).decode(),
            "PERSISTENCE_MODULE": POSTGRES_FACTORY_TOPIC,
            "POSTGRES_DBNAME": pg["dbname"], "POSTGRES_HOST": pg["host"], "POSTGRES_PORT": pg["port"],
            "POSTGRES_USER": pg["user"], "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_SCHEMA": self.schema, "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "10", "POSTGRES_CONN_MAX_AGE": "",
            # During a database outage, answer UNAVAILABLE within seconds instead of queueing for a connection.
            "POSTGRES_CONNECT_TIMEOUT": "1",
            # The library's insert function skips the table lock that keeps insert order equal to commit order;
            # a tailing reader could then skip events. Never let the process environment turn it on.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n", "CREATE_TABLE": "y" if conninfo is None else "n",
        }

    def standby_event_store_env(self) -> dict[str, str] | None:
        return self.event_store_env(self.read_conninfo) if self.read_route else None

    def stream_key(self, stream: UUID) -> object:
        return stream

    def event_rows(self, rows: list[Any]) -> list[EventRow]:
        return rows  # already (int, str, int, str, bytes): binary results, the stream cast to text in SQL

    def version_at(self, db: Database, stream: UUID, moment: datetime) -> int | None:
        """A binary search over the stream's versions in one query, so that a request pays one round trip
        instead of one per step."""
        table, at = self.events_table, self.recorded_at
        with db.transaction(write=False) as cursor:
            cursor.execute(
                f"WITH RECURSIVE search(low, high) AS ("
                f" SELECT 0::bigint, MAX(originator_version)::bigint FROM {table} WHERE originator_id = ?"
                f" UNION ALL"
                f" SELECT CASE WHEN at <= ? THEN middle ELSE low END, CASE WHEN at <= ? THEN high ELSE middle - 1 END"
                f" FROM (SELECT low, high, (low + high + 1) / 2 AS middle FROM search WHERE low < high) AS step"
                f" CROSS JOIN LATERAL (SELECT ({at})::timestamptz AS at FROM {table}"
                f" WHERE originator_id = ? AND originator_version = step.middle)"
                f" AS event) "
                f"SELECT low FROM search WHERE low = high", (stream, moment, moment, stream))
            row = cursor.fetchone()
        return None if row is None else int(row[0])

    @contextmanager
    def schema_lock(self) -> Iterator[None]:
        """DDL run by two processes at once can fail: one process at a time creates the schema."""
        with self.connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
            try:
                if self.schema != "public":
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))

    def ddl(self) -> AbstractContextManager[Cursor]:
        """Each statement commits alone, so that no lock is held long enough to deadlock with a projection
        commit of a process already running."""
        return self.db.transaction(write=False)

    def table_columns(self, cursor: Cursor, table: str) -> set[str]:
        cursor.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
                       " AND table_name = ?", (table,))
        return {str(name) for (name,) in cursor.fetchall()}

    def store_uncompressed(self, cursor: Cursor, table: str, columns: Sequence[str]) -> None:
        """STORAGE EXTERNAL: a value too large for its row goes to TOAST as it is. Compressing each rewrite
        of a tree tile (its positions) took half the time of the tree's statement in a catch-up."""
        cursor.execute("SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(?) AND attname = ANY(?) "
                       "AND attstorage <> 'e'", (table, list(columns)))
        for (column,) in cursor.fetchall():
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")

    def upsert_rows(self, cursor: Cursor, table: str, columns: Sequence[str], rows: Sequence[ViewRow]) -> None:
        """All rows as one JSON parameter of one statement: a tenth of the client's work of one INSERT per row.
        The document goes in as a JSON object: PostgreSQL keeps a `json` value's text as sent, so the column
        holds exactly its encoding, as it would have from a string."""
        names = ("stream_id", "document", "version", "position", *columns)
        listed = ", ".join(names)
        updates = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
        records = [{"stream_id": row.stream_id, "document": row.document, "version": row.version,
                    "position": row.position, **dict(zip(columns, row.columns, strict=True))} for row in rows]
        payload = _encode(records)
        if b"\\u0000" in payload:
            payload = _without_nul(payload)
        cursor.execute(f"INSERT INTO {table} ({listed}) SELECT {listed} FROM "
                       f"json_populate_recordset(NULL::{table}, ?::json) "
                       f"ON CONFLICT (stream_id) DO UPDATE SET {updates}", (payload.decode(),))

    def grow_tree(self, cursor: Cursor, size: int, added: int, from_position: int, to_position: int,
                  tiles: Sequence[Sequence[Any]]) -> bool:
        """One statement, one round trip: the tiles are written only if the guarded move of the tree happened."""
        placeholders = ", ".join(["(?::int, ?::bigint, ?::bytea, ?::bytea, ?::bigint)"] * len(tiles))
        cursor.execute(f"WITH moved AS (UPDATE log_tree SET size = size + ?, position = ? WHERE name = 'log' AND "
                       f"size = ? AND position = ? RETURNING 1) INSERT INTO log_tree_tiles ({self.TILE_COLUMNS}) "
                       f"SELECT v.* FROM (VALUES {placeholders}) AS v ({self.TILE_COLUMNS}) CROSS JOIN moved "
                       f"{self.TILE_UPSERT}", [added, to_position, size, from_position,
                                               *(value for row in tiles for value in row)])
        return cursor.rowcount > 0

    def is_missing_table(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.UndefinedTable)

    async def point_read(self, read: Callable[[], T]) -> T:
        """In a worker thread: it waits for a round trip to the server."""
        return await to_thread.run_sync(read)

    async def rows_by_job_id(self, table: str, columns: str, job_ids: Sequence[str]) -> list[Any]:
        """Without a thread hop: on connections the event loop drives (postgres_lookups.py), one set per server, made
        on first use inside the loop. On the standby while it answers (see standby.py)."""
        query = _numbered(f"SELECT {VIEW_POSITION}, {columns} FROM {POSITION_OF_TABLE} "
                          f"LEFT JOIN {table} AS v ON v.job_id = ANY(?)")
        params = (table, list(job_ids))
        route = self.read_route
        if route is not None and route.on_standby:
            try:
                rows = await self._rows_on("standby", self._read_connect, query, params)
            except Exception as error:
                if not is_unreachable(error):
                    raise
                route.standby_failed(error)
                if not route.fallback:
                    raise route.unavailable(error) from error
            else:
                route.count("standby")
                return rows
        elif route is not None and not route.fallback:
            raise route.unavailable(RuntimeError("it does not answer"))
        try:
            rows = await self._rows_on("primary", self._connect, query, params)
        except _UNREACHABLE as e:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {e}") from e
        if route is not None:
            route.count("primary")
        return rows

    async def _rows_on(self, server: str, connect: dict[str, Any], query: bytes,
                       params: Sequence[Any]) -> list[Any]:
        lookups = self._lookups.get(server)
        if lookups is None or not lookups.on_running_loop():
            lookups = self._lookups[server] = LoopLookups(connect, 2 if server == "primary" else 1)
        if server == "standby" and self.read_route is not None and self._standby_returns != self.read_route.returns:
            self._standby_returns = self.read_route.returns
            await lookups.forget_idle()  # their connections died with the standby's last stop
        return await lookups.rows(query, params)

    def notify(self, cursor: Cursor, channel: str) -> None:
        cursor.execute(f'NOTIFY "{channel}"')

    def listen(self, channel: str, stop: threading.Event, heard: Callable[[], None],
               listening: Callable[[bool], None]) -> bool:
        """Reconnects when the database comes back; checks the connection every second."""
        while not stop.is_set():
            try:
                with self.connect() as conn:
                    conn.execute(f'LISTEN "{channel}"')
                    listening(True)
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            heard()
                        conn.execute("SELECT 1")
            except psycopg.Error as error:
                log.warning("listening on %s failed (%s); retrying in 1 s", channel, error)
            finally:
                listening(False)
            stop.wait(1.0)
        return True

    def view_locks(self, views: Sequence[JobView]) -> ViewLocks:
        return AdvisoryViewLocks(self, views)

    def standbys(self) -> list[StandbyLag]:
        """From pg_stat_replication on the primary; a role without pg_monitor sees no LSNs (lag 0)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT application_name, COALESCE(host(client_addr), 'local'), state, sync_state, "
                           "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
                           "COALESCE(EXTRACT(EPOCH FROM replay_lag), 0)::float8 FROM pg_stat_replication "
                           "ORDER BY application_name")
            return [StandbyLag(str(name), str(address), str(state), str(sync), int(lag_bytes), float(lag_seconds))
                    for name, address, state, sync, lag_bytes, lag_seconds in cursor.fetchall()]

    async def aclose(self) -> None:
        lookups, self._lookups = self._lookups, {}
        for each in lookups.values():
            await each.close()

    def close(self) -> None:
        super().close()
        if self.reads is not self.db:
            self.reads.close()


def _numbered(query: str) -> bytes:
    """`?` placeholders as PostgreSQL's own: $1, $2, ..."""
    pieces = query.split("?")
    return (pieces[0] + "".join(f"${n}{piece}" for n, piece in enumerate(pieces[1:], 1))).encode()


def _hosts(conninfo: dict[str, str]) -> str:
    """The servers a connection may reach, for people: host:port, ..."""
    hosts, ports = conninfo["host"].split(","), conninfo["port"].split(",")
    return ", ".join(f"{host}:{ports[min(i, len(ports) - 1)]}" for i, host in enumerate(hosts))
