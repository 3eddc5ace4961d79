"""GetJob's lookups on PostgreSQL connections that the event loop drives itself, through psycopg's libpq binding.

Each connection registers its socket with the loop once, when it opens, and a query is a send and a wait for the
socket's answer. psycopg's asynchronous connections, through psycopg_pool, register and unregister the socket,
take the pool's lock and run its checks at every query: measured under 16 gRPC callers, a GetJob cost the server
898 µs of CPU this way against 1,109 µs through the pool, and its rate went from 0.55x to 0.67x of the health
check (bench/README.md). Parameters are dumped and rows loaded by psycopg's own Transformer, with the
connection's adapters, so that a row has the same Python types as a cursor's.

A connection serves one query at a time; a lookup that finds all MAX_CONNECTIONS busy waits for one. A lookup
cancelled while its query runs closes that connection, whose answer would otherwise reach the next query."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.errors import error_from_result

MAX_CONNECTIONS = 10
MAX_PREPARED = 16  # statements prepared per connection; past it the connection is replaced (a view was rebuilt)
_ANSWERED = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


def _settle(future: asyncio.Future[None]) -> None:
    """A readiness callback may run again before its waiter resumes."""
    if not future.done():
        future.set_result(None)


class LoopConnection:
    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection
        self._pgconn = connection.pgconn
        self._pgconn.nonblocking = 1
        self._socket = self._pgconn.socket
        self._loop = asyncio.get_running_loop()
        self._transformer = Transformer(connection)
        self._encoding = connection.info.encoding
        self._prepared: dict[bytes, bytes] = {}
        self._answer: asyncio.Future[list[pq.abc.PGresult]] | None = None
        self._results: list[pq.abc.PGresult] = []
        self.broken: Exception | None = None
        self._loop.add_reader(self._socket, self._readable)

    @classmethod
    async def open(cls, connect: dict[str, Any], timeout: float) -> LoopConnection:
        try:
            return cls(await asyncio.wait_for(psycopg.AsyncConnection.connect(**connect), timeout))
        except TimeoutError:
            raise psycopg.OperationalError(f"no connection within {timeout:g} s") from None

    @property
    def reusable(self) -> bool:
        return self.broken is None and len(self._prepared) < MAX_PREPARED

    async def rows(self, query: bytes, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """`query`'s rows; its placeholders are $1, $2, ..."""
        if self.broken is not None:
            raise psycopg.OperationalError(f"the connection was lost: {self.broken}")
        values = self._transformer.dump_sequence(params, [PyFormat.AUTO] * len(params))
        try:
            name = self._prepared.get(query)
            if name is None:
                name = f"jobstore_lookup_{len(self._prepared)}".encode()
                self._pgconn.send_prepare(name, query, param_types=self._transformer.types)
                await self._answered()
                self._prepared[query] = name
            self._pgconn.send_query_prepared(name, values, param_formats=self._transformer.formats)
            result = await self._answered()
        except psycopg.OperationalError as error:  # the connection failed, or the server is ending it
            if self.broken is None:
                self._lose(error)
            raise
        self._transformer.set_pgresult(result)
        return self._transformer.load_rows(0, result.ntuples, tuple)

    async def _answered(self) -> pq.abc.PGresult:
        self._answer = self._loop.create_future()
        while self._pgconn.flush():  # the rest of the query waits in libpq's buffer for the socket to drain
            writable = self._loop.create_future()
            self._loop.add_writer(self._socket, _settle, writable)
            try:
                await writable
            finally:
                self._loop.remove_writer(self._socket)
        results = await self._answer
        last = results[-1]
        if last.status not in _ANSWERED:
            raise error_from_result(last, encoding=self._encoding)
        return last

    def _readable(self) -> None:
        try:
            self._pgconn.consume_input()
            while not self._pgconn.is_busy():
                result = self._pgconn.get_result()
                if result is None:  # the statement's answer is complete
                    answer, self._answer = self._answer, None
                    results, self._results = self._results, []
                    if answer is not None and not answer.done():
                        answer.set_result(results)
                    return
                self._results.append(result)
        except Exception as error:  # noqa: BLE001 - the server closed the connection, or the network failed:
            self._lose(error)  # whatever it was, the lookup waiting learns of it rather than waiting forever

    def _lose(self, error: Exception) -> None:
        self.broken = error
        self._loop.remove_reader(self._socket)
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(psycopg.OperationalError(f"the connection was lost: {error}"))

    async def close(self) -> None:
        if self.broken is None:
            self._lose(psycopg.OperationalError("closed"))
        await self._connection.close()


class LoopLookups:
    """Up to MAX_CONNECTIONS LoopConnections to one server, opened when needed and kept while they work; made
    inside the event loop that uses them."""

    def __init__(self, connect: dict[str, Any], connect_timeout: float) -> None:
        self._connect = connect
        self._connect_timeout = connect_timeout
        self._idle: list[LoopConnection] = []
        self._free = asyncio.Semaphore(MAX_CONNECTIONS)
        self._loop = asyncio.get_running_loop()

    async def rows(self, query: bytes, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        async with self._free:
            connection = await self._connection()
            try:
                rows = await connection.rows(query, params)
            except psycopg.Error:
                await self._keep_or_close(connection)
                raise
            except BaseException:  # cancelled while its query runs: the answer would reach the next query
                await connection.close()
                raise
            await self._keep_or_close(connection)
            return rows

    async def _connection(self) -> LoopConnection:
        """An idle connection, or a new one; an idle one the server closed meanwhile (a restart, an idle
        timeout) is closed and passed over."""
        while self._idle:
            connection = self._idle.pop()
            if connection.broken is None:
                return connection
            await connection.close()
        return await LoopConnection.open(self._connect, self._connect_timeout)

    def on_running_loop(self) -> bool:
        return self._loop is asyncio.get_running_loop()

    async def _keep_or_close(self, connection: LoopConnection) -> None:
        if connection.reusable:
            self._idle.append(connection)
        else:
            await connection.close()

    async def forget_idle(self) -> None:
        """Close the idle connections (their server went away and came back, say): the next lookups open new
        ones."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def close(self) -> None:
        await self.forget_idle()
