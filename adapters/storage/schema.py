"""The tables jobstore keeps beside the event store's own: the views (and which table serves each), their
positions, API keys, secrets, idempotency keys; and the append-only guard on the events table.

A view table holds each job's document and the columns of projections.columns.COLUMNS. A table made by an
earlier version that lacks a declared column gets it when the store opens, filled from the documents.
"""
from __future__ import annotations

import logging

import orjson

from jobstore.adapters.storage.backend import Backend
from jobstore.adapters.storage.database import Cursor
from jobstore.adapters.storage.tree import tree_tables
from jobstore.domain.enums import JobView
from jobstore.projections.columns import COLUMNS, Column

log = logging.getLogger("jobstore.schema")
DEFAULT_TABLES = {JobView.BASIC: "job_view_basic", JobView.FULL: "job_view_full"}
BACKFILL_BATCH = 5000

TABLES = (
    "CREATE TABLE IF NOT EXISTS view_tables (view_name TEXT PRIMARY KEY, table_name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_positions (table_name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, salt TEXT NOT NULL, key_hash TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE TABLE IF NOT EXISTS service_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency_keys (scope TEXT NOT NULL, idempotency_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, status INTEGER, body TEXT, headers TEXT, created_at TEXT NOT NULL,"
    " PRIMARY KEY (scope, idempotency_key))",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_age ON idempotency_keys (created_at)",
)


def _definition(column: Column) -> str:
    return f"{column.name} TEXT" + (" NOT NULL" if column.required else "") + (" UNIQUE" if column.unique else "")


def _index(table: str, column: Column) -> str:
    return (f"CREATE INDEX IF NOT EXISTS {table}_{column.index} ON {table} "
            f"({column.name}, creation_time DESC, job_id DESC)")


def create_view_table(cursor: Cursor, table: str, backend: Backend | None = None) -> None:
    """A view table (if missing) and the indexes every read needs: one per list query shape, newest first.
    Given the `backend`, a table made earlier first gets the declared columns it lacks."""
    columns = ", ".join(_definition(column) for column in COLUMNS)
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {table} (stream_id TEXT PRIMARY KEY, {columns}, "
                   "document TEXT NOT NULL, version BIGINT NOT NULL, position BIGINT NOT NULL)")
    if backend is not None:
        present = backend.table_columns(cursor, table)
        for column in COLUMNS:
            if column.name not in present:
                _add_column(cursor, table, column)
    cursor.execute(f"CREATE INDEX IF NOT EXISTS {table}_newest ON {table} (creation_time DESC, job_id DESC)")
    for column in COLUMNS:
        if column.index:
            cursor.execute(_index(table, column))
    cursor.execute("INSERT INTO projection_positions (table_name, position) VALUES (?, 0)"
                   " ON CONFLICT (table_name) DO NOTHING", (table,))


def create_schema(backend: Backend) -> None:
    """Create every table jobstore needs, if missing, and add declared columns that a view table lacks.
    Runs after the event store made its own tables: it guards them with append-only triggers. Callers hold
    `backend.schema_lock()`."""
    with backend.ddl() as cursor:
        for statement in (*TABLES, *tree_tables(backend), *backend.append_only):
            cursor.execute(statement)
        backend.store_uncompressed(cursor, "log_tree_tiles", ("hashes", "positions"))
        if "applied_position" not in backend.table_columns(cursor, "idempotency_keys"):
            # The position of a claimed request's event, written in the append's own transaction (PostgreSQL):
            # a retry after a failover tells an applied write from one that never committed.
            cursor.execute("ALTER TABLE idempotency_keys ADD COLUMN applied_position BIGINT")
        for view, table in DEFAULT_TABLES.items():
            cursor.execute("INSERT INTO view_tables (view_name, table_name) VALUES (?, ?)"
                           " ON CONFLICT (view_name) DO NOTHING", (view.value, table))
        cursor.execute("SELECT table_name FROM view_tables")
        tables = [str(table) for (table,) in cursor.fetchall()]
        for table in tables:
            create_view_table(cursor, table, backend)


def _add_column(cursor: Cursor, table: str, column: Column) -> None:
    """A column declared after `table` was made: added, then filled from each row's document."""
    log.info("adding column %s to %s and filling it from the stored documents", column.name, table)
    cursor.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} TEXT")
    cursor.execute(f"SELECT COUNT(*) FROM {table}")
    total, done, after = int(cursor.fetchone()[0]), 0, ""
    while True:
        cursor.execute(f"SELECT stream_id, document FROM {table} WHERE stream_id > ? ORDER BY stream_id LIMIT ?",
                       (after, BACKFILL_BATCH))
        rows = cursor.fetchall()
        if not rows:
            break
        cursor.executemany(f"UPDATE {table} SET {column.name} = ? WHERE stream_id = ?",
                           [(column.derive(orjson.loads(document)), stream) for stream, document in rows])
        done, after = done + len(rows), rows[-1][0]
        log.info("%s.%s: %d of %d rows filled", table, column.name, done, total)
