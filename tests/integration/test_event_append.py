"""Appending events: what goes in comes back byte for byte, a failed append stores none of its events, and on
PostgreSQL the values written into the append's SQL mean the same whatever the server's string settings."""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.library import _row_literal
from tests.conftest import drop_schema, postgres_url

AWKWARD_TOPIC = "domain.job:Job.Upserted'; DROP TABLE x; --\\'"
EVERY_BYTE = bytes(range(256)) + b"'\\x00''\\\\"


def event(stream: uuid.UUID, version: int, topic: str = "domain.job:Job.Upserted",
          state: bytes = b'{"a":1}') -> StoredEvent:
    return StoredEvent(originator_id=stream, originator_version=version, topic=topic, state=state)


def test_appended_events_come_back_byte_for_byte_at_the_positions_the_append_returned(services: Services) -> None:
    recorder = services.jobs.recorder
    stream = uuid.uuid4()
    written = [event(stream, 1, AWKWARD_TOPIC, EVERY_BYTE), event(stream, 2, state=b"\xff\xfe'\\"),
               event(stream, 3, "t\u00e9l\u00e9", b"")]
    positions = recorder.insert_events(written)
    assert positions is not None and len(positions) == 3 and positions == sorted(positions)
    read = recorder.select_events(stream)
    assert [(e.originator_version, e.topic, bytes(e.state)) for e in read] == \
        [(e.originator_version, e.topic, e.state) for e in written]
    by_position = {n.id: (n.originator_version, bytes(n.state))
                   for n in recorder.select_notifications(start=positions[0], limit=10)}
    assert [by_position[p] for p in positions] == [(e.originator_version, e.state) for e in written]


def test_an_append_with_one_taken_version_stores_none_of_its_events_and_the_next_append_works(
        services: Services) -> None:
    recorder = services.jobs.recorder
    stream, other = uuid.uuid4(), uuid.uuid4()
    recorder.insert_events([event(stream, 1)])
    with pytest.raises(IntegrityError):
        recorder.insert_events([event(other, 1), event(stream, 1)])
    assert recorder.select_events(other) == []
    assert len(recorder.insert_events([event(other, 1)]) or []) == 1


@pytest.mark.parametrize("standard_conforming_strings", ["on", "off"])
def test_the_values_written_into_an_append_mean_the_same_whatever_the_string_settings(
        standard_conforming_strings: str) -> None:
    stored = event(uuid.uuid4(), 7, AWKWARD_TOPIC, EVERY_BYTE)
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        conn.execute(f"SET standard_conforming_strings = {standard_conforming_strings}")
        row = conn.execute(b"SELECT a::uuid, b, c::text, d::bytea FROM (VALUES " + _row_literal(stored) +
                           b") AS v(a, b, c, d)").fetchone()
    assert row == (stored.originator_id, 7, AWKWARD_TOPIC, EVERY_BYTE)


def test_the_event_stores_queries_on_postgresql_read_binary_results_and_replays_still_match(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url=postgres_url(), database_schema=f"t_{uuid.uuid4().hex[:12]}")
    services = open_services(settings)
    try:
        with services.jobs.recorder.datastore.get_connection() as conn, conn.cursor() as cursor:
            assert cursor.format == psycopg.pq.Format.BINARY
        stream = uuid.uuid4()
        services.jobs.recorder.insert_events([event(stream, 1, state=EVERY_BYTE)])
        [stored] = services.jobs.recorder.select_events(stream)
        assert (stored.originator_id, bytes(stored.state)) == (stream, EVERY_BYTE)
    finally:
        services.close()
        drop_schema(postgres_url(), settings.database_schema)


def test_an_append_on_a_lost_connection_is_the_librarys_operational_error_and_stores_nothing_and_its_retry_is_not(
        tmp_path: Path) -> None:
    """One attempt on a dead connection raises the library's OperationalError (the service answers UNAVAILABLE)
    and stores nothing; the pool then replaces its idle connections to the server at once (after a failover
    they all lead to a server that is gone), so the append's second attempt succeeds."""
    settings = Settings(home=tmp_path, database_url=postgres_url(), database_schema=f"t_{uuid.uuid4().hex[:12]}")
    services = open_services(settings)
    recorder = services.jobs.recorder
    try:
        pool = recorder.datastore.pool
        pool.wait()  # every connection of its minimum size open, so that both attempts of an append meet a dead one
        held = [pool.getconn() for _ in range(pool.get_stats()["pool_available"])]
        assert len(held) >= 2
        with psycopg.connect(postgres_url(), autocommit=True) as admin:
            for conn in held:
                admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
        for conn in held:
            pool.putconn(conn)
        stream = uuid.uuid4()
        with pytest.raises(OperationalError):
            type(recorder).insert_events.__wrapped__(recorder, [event(stream, 1)])  # one attempt, no retry
        assert stored_versions(settings, stream) == [], "a failed append stored an event"
        recorder.insert_events([event(stream, 1)])
        assert stored_versions(settings, stream) == [1]
        pool.wait()
        assert pool.get_stats()["returns_bad"] >= 1, "the dead connection was not given back as broken"
        # The pool's check of its idle connections runs in its own workers, each taken out while checked.
        deadline = time.monotonic() + 10
        while (stats := pool.get_stats())["pool_size"] != stats["pool_available"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stats["pool_size"] == stats["pool_available"], "a connection was never given back to the pool"
    finally:
        services.close()
        drop_schema(postgres_url(), settings.database_schema)


def stored_versions(settings: Settings, stream: uuid.UUID) -> list[int]:
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        return [version for (version,) in conn.execute(
            f"SELECT originator_version FROM {settings.database_schema}.jobstore_events WHERE originator_id = %s",
            (stream,))]
