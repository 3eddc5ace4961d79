"""One transaction interface over SQLite (sqlite3) and PostgreSQL (psycopg 3 with a pool).

SQL is written once with `?` placeholders; the PostgreSQL side turns them into `%s`.
"""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the work for a reason outside the request."""


class Cursor(Protocol):
    rowcount: int

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(Protocol):
    dialect: str

    def transaction(self, write: bool = True, binary: bool = False) -> Any:
        """A context manager giving a cursor; commits on success, rolls back on any exception.

        `binary` asks PostgreSQL for results in its binary format (bytea as raw bytes, not hex text)."""
        ...

    def close(self) -> None: ...


class SQLiteDatabase:
    dialect = "sqlite"

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
    def transaction(self, write: bool = True, binary: bool = False) -> Iterator[sqlite3.Cursor]:
        conn = self._connection()
        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
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

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


class PostgresDatabase:
    """Autocommit connections: a read is its statements alone (no BEGIN/COMMIT round trips); a write is one
    explicit transaction."""

    dialect = "postgres"

    def __init__(self, conninfo: dict[str, str], schema: str, max_size: int = 10) -> None:
        kwargs: dict[str, Any] = {**conninfo, "options": f"-c search_path={schema}", "autocommit": True,
                                  "connect_timeout": 2}
        # A short wait for a connection: during an outage requests fail fast (UNAVAILABLE) instead of queueing.
        self.pool = ConnectionPool(kwargs=kwargs, min_size=1, max_size=max_size, open=True, timeout=2)

    @contextmanager
    def transaction(self, write: bool = True, binary: bool = False) -> Iterator[_PostgresCursor]:
        try:
            with self.pool.connection() as conn:
                if write:
                    with conn.transaction(), conn.cursor(binary=binary) as cursor:
                        yield _PostgresCursor(cursor)
                else:
                    with conn.cursor(binary=binary) as cursor:
                        yield _PostgresCursor(cursor)
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as e:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {e}") from e

    def close(self) -> None:
        self.pool.close()


class AsyncReads:
    """Single-statement reads from an asyncio event loop, without a thread hop (PostgreSQL only). The pool is
    opened on first use, inside the loop, and closed by the HTTP app's lifespan."""

    def __init__(self, conninfo: dict[str, str], schema: str, max_size: int = 10) -> None:
        self._kwargs: dict[str, Any] = {**conninfo, "options": f"-c search_path={schema}", "autocommit": True,
                                        "connect_timeout": 2}
        self._max_size = max_size
        self._pool: AsyncConnectionPool | None = None

    async def fetchall(self, sql: str, params: Sequence[Any]) -> list[Any]:
        if self._pool is None:
            self._pool = AsyncConnectionPool(kwargs=self._kwargs, min_size=1, max_size=self._max_size, open=False,
                                             timeout=2)
            await self._pool.open()
        try:
            async with self._pool.connection() as conn:
                cursor = await conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
                return await cursor.fetchall()
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise DatabaseUnavailable(f"PostgreSQL is unreachable: {e}") from e

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


class _PostgresCursor:
    """A psycopg cursor that takes the `?` placeholders the shared SQL is written with."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if not params:
            return self._cursor.execute(sql)  # type: ignore[arg-type]
        return self._cursor.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]

    def executemany(self, sql: str, params: Sequence[Sequence[Any]]) -> Any:
        return self._cursor.executemany(sql.replace("?", "%s"), params)  # type: ignore[arg-type]

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()
