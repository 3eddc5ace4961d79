"""GetJob's lookups on connections the event loop drives (adapters/storage/postgres_lookups.py), on a real
PostgreSQL: the rows a cursor would give, errors as psycopg raises them, and connections that the server closes,
that a cancelled lookup leaves with an answer in flight, or that more lookups want than there may be."""
from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from jobstore.adapters.storage.postgres_lookups import MAX_CONNECTIONS, LoopLookups
from tests.conftest import drop_schema, postgres_url

LOOKUP = b"SELECT k, doc, n, at, note FROM lookups WHERE k = ANY($1) ORDER BY k"
T = TypeVar("T")
KEYS = ["plain", "it's", 'say "hi"', "back\\slash", "{braces,comma}", "NULL", "", " spaced ", "ünï☃de", "x" * 300]


@pytest.fixture
def connect() -> Iterator[dict[str, Any]]:
    url = postgres_url()
    schema = f"lookups_{uuid.uuid4().hex[:8]}"
    name = f"jobstore-lookups-test-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.lookups (k text PRIMARY KEY, doc bytea, n bigint, at timestamptz, "
                             "note text)").format(sql.Identifier(schema)))
        with conn.cursor() as cursor:
            cursor.executemany(sql.SQL("INSERT INTO {}.lookups VALUES (%s, %s, %s, now(), %s)").format(
                sql.Identifier(schema)), [(k, k.encode() * 3, n, None if n % 2 else k) for n, k in enumerate(KEYS)])
    try:
        yield {"conninfo": url, "options": f"-c search_path={schema}", "autocommit": True,
               "application_name": name}
    finally:
        drop_schema(url, schema)


def backends(connect: dict[str, Any]) -> int:
    with psycopg.connect(connect["conninfo"], autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           (connect["application_name"],)).fetchone()
        assert row is not None
        return int(row[0])


def with_lookups(connect: dict[str, Any], scenario: Callable[[LoopLookups], Awaitable[T]]) -> T:
    """`scenario` run on an event loop of its own, with lookups closed at its end."""
    async def run() -> T:
        lookups = LoopLookups(connect, 2)
        try:
            return await scenario(lookups)
        finally:
            await lookups.close()

    return asyncio.run(run())


def terminate(connect: dict[str, Any]) -> int:
    """Ends the lookups' connections from the server's side, as a restart or an administrator would."""
    with psycopg.connect(connect["conninfo"], autocommit=True) as conn:
        return len(conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                                (connect["application_name"],)).fetchall())


def test_rows_and_their_types_are_a_cursors_whatever_the_keys_hold(connect: dict[str, Any]) -> None:
    with psycopg.connect(**connect) as conn:
        expected = conn.execute(LOOKUP.replace(b"$1", b"%s"), ([*KEYS, "absent"],)).fetchall()

    async def looked_up(lookups: LoopLookups) -> list[Any]:
        return [await lookups.rows(LOOKUP, ([*KEYS, "absent"],)) for _ in range(3)]  # prepared after the 1st

    answers = with_lookups(connect, looked_up)
    assert len(expected) == len(KEYS)
    for rows in answers:
        assert rows == expected
        assert [tuple(map(type, row)) for row in rows] == [tuple(map(type, row)) for row in expected]
    assert isinstance(expected[0][3], datetime) and isinstance(expected[0][1], bytes)


def test_an_sql_error_is_psycopgs_and_the_connection_serves_the_next_lookup(connect: dict[str, Any]) -> None:
    async def run(lookups: LoopLookups) -> list[Any]:
        with pytest.raises(psycopg.errors.UndefinedTable):
            await lookups.rows(b"SELECT k FROM no_such_table WHERE k = ANY($1)", (["plain"],))
        return await lookups.rows(LOOKUP, (["plain"],))

    assert [row[0] for row in with_lookups(connect, run)] == ["plain"]


def test_a_connection_the_server_closed_while_idle_is_passed_over(connect: dict[str, Any]) -> None:
    async def run(lookups: LoopLookups) -> list[Any]:
        await lookups.rows(LOOKUP, (["plain"],))
        assert terminate(connect) == 1
        await asyncio.sleep(0.2)  # the loop hears the connection end
        return await lookups.rows(LOOKUP, (["NULL"],))

    assert [row[0] for row in with_lookups(connect, run)] == ["NULL"]


def test_a_connection_lost_during_a_lookup_fails_that_lookup_and_not_the_next(connect: dict[str, Any]) -> None:
    async def run(lookups: LoopLookups) -> list[Any]:
        slow = asyncio.ensure_future(lookups.rows(b"SELECT pg_sleep(5), $1::text[]", (["plain"],)))
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(terminate, connect) == 1
        with pytest.raises(psycopg.OperationalError):
            await asyncio.wait_for(slow, 3)
        return await lookups.rows(LOOKUP, (["plain"],))

    assert [row[0] for row in with_lookups(connect, run)] == ["plain"]


def test_a_lookup_cancelled_in_flight_leaves_no_answer_for_the_next(connect: dict[str, Any]) -> None:
    async def run(lookups: LoopLookups) -> list[Any]:
        slow = asyncio.ensure_future(lookups.rows(b"SELECT k FROM lookups, pg_sleep(0.3) WHERE k = ANY($1)",
                                                  (["it's"],)))
        await asyncio.sleep(0.1)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        return await lookups.rows(LOOKUP, (["plain"],))  # while the cancelled query still runs

    assert [row[0] for row in with_lookups(connect, run)] == ["plain"]


def test_more_lookups_at_once_than_connections_wait_for_one(connect: dict[str, Any]) -> None:
    wanted = MAX_CONNECTIONS * 3

    async def run(lookups: LoopLookups) -> tuple[list[Any], int]:
        answers = asyncio.gather(*(lookups.rows(b"SELECT $1::text[], pg_sleep(0.2)", ([str(n)],))
                                   for n in range(wanted)))
        await asyncio.sleep(0.3)
        busiest = await asyncio.to_thread(backends, connect)
        return await answers, busiest

    answers, busiest = with_lookups(connect, run)
    assert [row[0][0] for row in answers] == [[str(n)] for n in range(wanted)]
    assert busiest == MAX_CONNECTIONS
    deadline = time.monotonic() + 10  # closed with the lookups; a server process ends a moment after its client
    while backends(connect) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert backends(connect) == 0


def test_a_server_that_never_answers_is_an_operational_error_after_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # it accepts connections and never says a word
        port = silent.getsockname()[1]

        async def run() -> float:
            lookups = LoopLookups({"conninfo": f"host=127.0.0.1 port={port} dbname=none"}, 0.5)
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError, match=r"no connection within 0\.5 s"):
                await lookups.rows(LOOKUP, (["plain"],))
            return time.monotonic() - started

        assert asyncio.run(run()) < 5
