"""Every use of the `eventsourcing` library's private parts, kept here, where speed needs them. Each behaviour
relied on is pinned by tests/unit/test_library_boundary.py (and, on PostgreSQL,
tests/integration/test_event_append.py), so that an upgrade of the library fails a named test instead of
corrupting data.

- `StoredJobs`: the application service, saving one job without the library's generic collection step.
- `EventTranscoder`: the library's JSON transcoder, written with msgspec.
- `PostgresFactory`: the event store on PostgreSQL, the library's recorders with two changes. A lost connection
  is retried a couple of times instead of ten, so that during a database outage a request answers UNAVAILABLE
  within seconds instead of hanging. And events are appended with the library's own statements (lock_timeout,
  LOCK TABLE ... IN EXCLUSIVE MODE, NOTIFY, INSERT ... RETURNING notification_id) sent as one query, which
  PostgreSQL runs as one transaction, instead of one round trip each: the table lock still makes insert order
  equal commit order, so readers tailing the log never skip an event.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import msgspec
import psycopg
from eventsourcing import postgres
from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    JSONTranscoder,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import retry
from psycopg.pq import ConnStatus, ExecStatus, Format
from psycopg.sql import SQL, Identifier

from jobstore.domain.application import Clock, Jobs
from jobstore.domain.job import Job

ATTEMPTS = 2
# The idempotency claim (API key name, Idempotency-Key) of the request whose events are being appended, if any.
# When it was noted, written as jobstore writes times (domain.document.format_time), so that a retry can tell a
# request still answering from one that never will.
APPLIED_AT = "to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
APPENDING_FOR: ContextVar[tuple[str, str] | None] = ContextVar("jobstore-appending-for", default=None)
TRANSCODER_TOPIC = "jobstore.adapters.storage.library:EventTranscoder"
POSTGRES_FACTORY_TOPIC = "jobstore.adapters.storage.library:PostgresFactory"
CONNECT_OPTIONS = "JOBSTORE_CONNECT_OPTIONS"  # libpq parameters beyond the library's own, as a JSON object


class StoredJobs(Jobs):
    name = Jobs.name  # the library names a subclass after itself, and its tables after that name

    def replace_lost_connections(self) -> None:
        """Let the event store's pool test its idle connections and replace the dead (its server came back)."""
        datastore = getattr(self.recorder, "datastore", None)  # PostgreSQL's recorders have one, SQLite's not
        if datastore is not None:
            datastore.pool.check()

    def save_job(self, job: Job) -> int:
        """The library's `save` for one job (record, cache, snapshot, notify), without its generic collection
        step: its runtime protocol checks cost a fifth of a command's own time."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        processing.events.extend(job.collect_events())
        processing.aggregates[job.id] = job
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        return recordings[-1].notification.id


class StandbyJobs:
    """The event store as the standbys hold it (time travel replays a job there), opened on first use: the library
    connects as it opens one, and a standby that is down when the server starts must not keep the server from
    starting (its reads go to the primary meanwhile)."""

    def __init__(self, env: dict[str, str], clock: Clock) -> None:
        self._env = env
        self._clock = clock
        self._jobs: StoredJobs | None = None
        self._lock = threading.Lock()

    def opened(self) -> StoredJobs:
        """The event store on the standbys; raises the library's OperationalError while none can be reached."""
        with self._lock:
            if self._jobs is None:
                self._jobs = StoredJobs(env=self._env, clock=self._clock)
            return self._jobs

    def replace_lost_connections(self) -> None:
        if self._jobs is not None:
            self._jobs.replace_lost_connections()


_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_JOB_DOCUMENT = "data"


class EventTranscoder(JSONTranscoder):
    """The library's JSON transcoder, written with msgspec where it can be.

    The library's encoder (Python's json with a `default` hook) took a sixth of a command's own time. msgspec
    writes the same bytes in a tenth of that, but it writes datetimes and UUIDs itself, as plain strings, where
    the library writes `{"_type_": ..., "_data_": ...}` so that they come back as what they were. A state's
    values of those types at an event's top level (its timestamp) are wrapped the library's way (its
    `_encode_obj`, for the types registered in its `types`) before msgspec runs, and the only value deeper than
    the top level is the event's data, a job document, JSON by construction. Any other state (a snapshot's,
    which holds the job's datetimes one level down) goes to the library's encoder.
    """

    def __init__(self) -> None:
        super().__init__()
        self._fast_encoder = msgspec.json.Encoder()

    def encode(self, obj: Any) -> bytes:
        if type(obj) is not dict:
            return super().encode(obj)
        state: dict[str, Any] = {}
        for key, value in obj.items():
            kind = type(value)
            if kind in _JSON_SCALARS or (kind is dict and key == _JOB_DOCUMENT):
                state[key] = value
            elif kind in self.types:
                state[key] = self._encode_obj(value)
            else:
                return super().encode(obj)
        return self._fast_encoder.encode(state)


def _bounded(method: Any) -> Any:
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=0.2)(method.__wrapped__)


def _row_literal(event: StoredEvent) -> bytes:
    """One event as SQL literals. Escape-string syntax (E'...') means the same whatever the server's
    standard_conforming_strings; the state goes as bytea's hex form."""
    return b"(%s, %d, %s, E'\\\\x%s')" % (_text_literal(str(event.originator_id)), event.originator_version,
                                          _topic_literal(event.topic), event.state.hex().encode())


def _text_literal(text: str) -> bytes:
    return b"E'" + text.replace("\\", "\\\\").replace("'", "''").encode() + b"'"


_topic_literal = functools.lru_cache(maxsize=256)(_text_literal)  # the topics are the job event classes


_LIBRARY_ERRORS: tuple[tuple[type[psycopg.Error], type[PersistenceError]], ...] = (
    (psycopg.InterfaceError, InterfaceError), (psycopg.OperationalError, OperationalError),
    (psycopg.DataError, DataError), (psycopg.IntegrityError, IntegrityError), (psycopg.InternalError, InternalError),
    (psycopg.ProgrammingError, ProgrammingError), (psycopg.NotSupportedError, NotSupportedError),
    (psycopg.DatabaseError, DatabaseError))


def _library_error(error: psycopg.Error) -> PersistenceError:
    """The library's error for a psycopg error, as its get_connection maps them (the service and the retries
    catch the library's errors)."""
    for psycopg_error, library_error in _LIBRARY_ERRORS:
        if isinstance(error, psycopg_error):
            return library_error(str(error))
    return PersistenceError(str(error))


class SnapshotRecorder(PostgresAggregateRecorder):
    insert_events = _bounded(PostgresAggregateRecorder.insert_events)
    select_events = _bounded(PostgresAggregateRecorder.select_events)


class EventRecorder(PostgresApplicationRecorder):
    @functools.cached_property
    def _append_statement(self) -> bytes:
        """The append, up to its VALUES. No BEGIN and COMMIT: the statements of one query string are one
        transaction (the "implicit transaction block"), committed before the answer ends, or rolled back whole
        at the first error."""
        return SQL("{lock}; NOTIFY {channel}; INSERT INTO {schema}.{table} "
                   "(originator_id, originator_version, topic, state) VALUES ").format(
            lock=SQL("; ").join(self.lock_table_statements), channel=Identifier(self.channel_name),
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)).as_bytes(None)

    @functools.cached_property
    def _noting_statement(self) -> bytes:
        """The append for a request with an idempotency key: the same, with the key's claim noting the position
        of the appended event in the same transaction."""
        return SQL("{lock}; NOTIFY {channel}; WITH appended AS (INSERT INTO {schema}.{table} "
                   "(originator_id, originator_version, topic, state) VALUES ").format(
            lock=SQL("; ").join(self.lock_table_statements), channel=Identifier(self.channel_name),
            schema=Identifier(self.datastore.schema), table=Identifier(self.events_table_name)).as_bytes(None)

    def _query(self, stored_events: Sequence[StoredEvent]) -> bytes:
        values = b", ".join(map(_row_literal, stored_events))
        claim = APPENDING_FOR.get()
        if claim is None:
            return self._append_statement + values + b" RETURNING notification_id"
        scope, key = claim
        noted = SQL("UPDATE {schema}.idempotency_keys SET applied_position = (SELECT MAX(notification_id) FROM "
                    "appended), created_at = {now} WHERE ").format(schema=Identifier(self.datastore.schema),
                                                                   now=SQL(APPLIED_AT)).as_bytes(None)
        return (self._noting_statement + values + b" RETURNING notification_id), noted AS (" + noted +
                b"scope = " + _text_literal(scope) + b" AND idempotency_key = " + _text_literal(key) +
                b" AND status IS NULL) SELECT notification_id FROM appended ORDER BY notification_id")

    @retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not stored_events:
            return []
        query = self._query(stored_events)
        # The pool's connection is taken and given back directly: the library's get_connection and the pool's
        # context manager around it cost 5 us of a command's 45 and add nothing to a query that leaves no
        # transaction open. putconn replaces a broken connection.
        pool = self.datastore.pool
        try:
            pool.open(self.datastore.pool_open_timeout is not None, self.datastore.pool_open_timeout or 30.0)
            conn = pool.getconn()
            try:
                # One query of several statements, so its values are written into it (see _row_literal), and run
                # by libpq's PQexec, which waits for the whole answer without holding the GIL: a cursor's
                # client-side binding and result handling cost as much again as the rest of a command. PQexec
                # returns the last statement's result, the positions, or the error that ended the query.
                result = conn.pgconn.exec_(query)
                if result.status != ExecStatus.TUPLES_OK:
                    if conn.pgconn.status == ConnStatus.BAD:
                        raise psycopg.OperationalError(result.get_error_message())
                    raise psycopg.errors.error_from_result(result)
            finally:
                pool.putconn(conn)
        except psycopg.Error as error:
            if isinstance(error, psycopg.OperationalError):
                pool.check()  # the server may be gone for good (a failover): replace the idle connections to it
            raise _library_error(error) from error
        return [int(result.get_value(row, 0) or b"") for row in range(result.ntuples)]
    select_events = _bounded(PostgresApplicationRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class BinaryResults(psycopg.Cursor[Any]):
    """A cursor that reads results in PostgreSQL's binary format: a stored event's state arrives as its bytes,
    not as hex text twice as long, which psycopg then decodes."""

    def __init__(self, connection: psycopg.Connection[Any], *, row_factory: Any = None) -> None:
        super().__init__(connection, row_factory=row_factory)
        self.format = Format.BINARY


class PostgresFactory(postgres.PostgresFactory):
    aggregate_recorder_class = SnapshotRecorder
    application_recorder_class = EventRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # The library's queries read events (replays, snapshots, notifications) through its pool's connections:
        # give them binary results. Reading 3 KB events took a third of the time in a plain psycopg test, and in
        # the bench ?version=N's p99 went from about 30 to 6-9 ms.
        connect_arguments = self.datastore.pool.kwargs
        assert isinstance(connect_arguments, dict), "the library builds its pool with a dict of connect arguments"
        connect_arguments["cursor_factory"] = BinaryResults
        # The URL's other libpq parameters, target_session_attrs first: with several hosts, which one to use.
        connect_arguments.update(msgspec.json.decode(env.get(CONNECT_OPTIONS) or "{}"))
