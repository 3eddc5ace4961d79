"""The tables jobstore keeps beside the event store's own: the views (and which table serves each), their
positions, API keys, secrets, idempotency keys; and the append-only guard on the events table."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from jobstore.adapters.storage.database import Cursor, Database
from jobstore.domain.enums import JobView

DEFAULT_TABLES = {JobView.BASIC: "job_view_basic", JobView.FULL: "job_view_full"}
SCHEMA_LOCK = 7_245_001  # any constant: serialises schema creation between processes on PostgreSQL

APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS stored_events_refuse_update BEFORE UPDATE ON stored_events "
        "BEGIN SELECT RAISE(ABORT, 'jobstore events are append-only: UPDATE refused'); END",
        "CREATE TRIGGER IF NOT EXISTS stored_events_refuse_delete BEFORE DELETE ON stored_events "
        "BEGIN SELECT RAISE(ABORT, 'jobstore events are append-only: DELETE refused'); END",
    ],
    "postgres": [
        "CREATE OR REPLACE FUNCTION jobstore_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $body$ "
        "BEGIN RAISE EXCEPTION USING MESSAGE = 'jobstore events are append-only: ' || TG_OP || ' refused'; END "
        "$body$",
        "CREATE OR REPLACE TRIGGER jobstore_events_append_only BEFORE UPDATE OR DELETE ON jobstore_events "
        "FOR EACH ROW EXECUTE FUNCTION jobstore_refuse_change()",
        "CREATE OR REPLACE TRIGGER jobstore_events_no_truncate BEFORE TRUNCATE ON jobstore_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION jobstore_refuse_change()",
    ],
}

TABLES = [
    "CREATE TABLE IF NOT EXISTS view_tables (view_name TEXT PRIMARY KEY, table_name TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_positions (table_name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS api_keys (name TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL, salt TEXT NOT NULL, key_hash TEXT NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)",
    "CREATE TABLE IF NOT EXISTS service_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS idempotency_keys (scope TEXT NOT NULL, idempotency_key TEXT NOT NULL,"
    " fingerprint TEXT NOT NULL, status INTEGER, body TEXT, headers TEXT, created_at TEXT NOT NULL,"
    " PRIMARY KEY (scope, idempotency_key))",
    "CREATE INDEX IF NOT EXISTS idempotency_keys_age ON idempotency_keys (created_at)",
]


def view_table_statements(table: str) -> list[str]:
    """A view table and the indexes every read needs: one per list query shape, newest first."""
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ("
        " stream_id TEXT PRIMARY KEY, job_id TEXT NOT NULL UNIQUE, job_type TEXT NOT NULL, status TEXT NOT NULL,"
        " project_id TEXT, agent_id TEXT, creation_time TEXT NOT NULL, document TEXT NOT NULL,"
        " version BIGINT NOT NULL, position BIGINT NOT NULL)",
        f"CREATE INDEX IF NOT EXISTS {table}_newest ON {table} (creation_time DESC, job_id DESC)",
        f"CREATE INDEX IF NOT EXISTS {table}_project ON {table} (project_id, creation_time DESC, job_id DESC)",
        f"CREATE INDEX IF NOT EXISTS {table}_agent ON {table} (agent_id, creation_time DESC, job_id DESC)",
        f"CREATE INDEX IF NOT EXISTS {table}_status ON {table} (status, creation_time DESC, job_id DESC)",
        f"CREATE INDEX IF NOT EXISTS {table}_type ON {table} (job_type, creation_time DESC, job_id DESC)",
    ]


def create_view_table(cursor: Cursor, table: str) -> None:
    for statement in view_table_statements(table):
        cursor.execute(statement)
    cursor.execute("INSERT INTO projection_positions (table_name, position) VALUES (?, 0)"
                   " ON CONFLICT (table_name) DO NOTHING", (table,))


@contextmanager
def schema_lock(conninfo: dict[str, str]) -> Iterator[None]:
    """Serialise schema creation (the event store's tables and ours) between processes on PostgreSQL."""
    with psycopg.connect(**conninfo, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def create_schema(db: Database) -> None:
    """Create every table jobstore needs, if missing, while other processes write: on PostgreSQL each
    statement commits alone, so no lock is held long enough to deadlock with a projection commit. Callers on
    PostgreSQL hold `schema_lock` (DDL run by two processes at once can fail there).

    Runs after the event store made its own tables: it guards them with append-only triggers.
    """
    if db.dialect == "postgres":
        with db.transaction(write=False) as cursor:
            _create(cursor, db.dialect)
    else:
        with db.transaction() as cursor:
            _create(cursor, db.dialect)


def _create(cursor: Cursor, dialect: str) -> None:
    for statement in [*TABLES, *APPEND_ONLY[dialect]]:
        cursor.execute(statement)
    for view, table in DEFAULT_TABLES.items():
        cursor.execute("INSERT INTO view_tables (view_name, table_name) VALUES (?, ?)"
                       " ON CONFLICT (view_name) DO NOTHING", (view.value, table))
    cursor.execute("SELECT table_name FROM view_tables")
    for (table,) in cursor.fetchall():
        create_view_table(cursor, str(table))
