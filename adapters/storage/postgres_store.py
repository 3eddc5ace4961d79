"""The event store on PostgreSQL: the library's recorders, with two changes. A lost connection is retried a
couple of times instead of ten, so that during a database outage a request answers UNAVAILABLE within seconds
instead of hanging. And events are appended with the library's own statements (BEGIN, lock_timeout,
LOCK TABLE ... IN EXCLUSIVE MODE, NOTIFY, INSERT ... RETURNING notification_id, COMMIT) sent as one query
instead of one round trip each: the table lock still makes insert order equal commit order, so readers tailing
the log never skip an event. Selected with PERSISTENCE_MODULE=adapters.storage.postgres_store."""
from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing import postgres
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg import ClientCursor
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

ATTEMPTS = 2


def _bounded(method: Any) -> Any:
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=0.2)(method.__wrapped__)


class SnapshotRecorder(PostgresAggregateRecorder):
    insert_events = _bounded(PostgresAggregateRecorder.insert_events)
    select_events = _bounded(PostgresAggregateRecorder.select_events)


class EventRecorder(PostgresApplicationRecorder):
    @functools.cache  # noqa: B019 - one recorder per process; a few entries (events per command)
    def _append_statement(self, events: int) -> bytes:
        values = SQL(", ").join([SQL("(%s, %s, %s, %s)")] * events)
        return SQL("BEGIN; {lock}; NOTIFY {channel}; INSERT INTO {schema}.{table} "
                   "(originator_id, originator_version, topic, state) VALUES {values} "
                   "RETURNING notification_id; COMMIT").format(
            lock=SQL("; ").join(self.lock_table_statements), channel=Identifier(self.channel_name),
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name),
            values=values).as_bytes(None)

    @retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        statement = self._append_statement(len(stored_events))
        params = [value for e in stored_events for value in (e.originator_id, e.originator_version, e.topic, e.state)]
        # Parameters are bound on this side (ClientCursor), so that several statements can go as one query.
        with self.datastore.get_connection() as conn, ClientCursor(conn) as cursor:
            try:
                cursor.execute(statement, params)
                while cursor.description is None and cursor.nextset():
                    pass
                return [row["notification_id"] for row in cursor.fetchall()]
            except BaseException:
                if conn.info.transaction_status == TransactionStatus.INERROR:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                raise
    select_events = _bounded(PostgresApplicationRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class Factory(postgres.PostgresFactory):  # the library looks for exactly one factory class in this module
    aggregate_recorder_class = SnapshotRecorder
    application_recorder_class = EventRecorder
