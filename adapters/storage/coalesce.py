"""Lookups by key that arrive together share one query. Under load, many GetJob requests reach the database
within a millisecond or so; reading their rows with one `WHERE job_id = ANY(...)` costs one round trip and one
pass through the driver instead of one each (measured on PostgreSQL through psycopg's pool: about 300 µs of
client CPU for a lookup alone, 30 µs each in batches of 16; postgres_lookups.py has since made a query cheaper).
Each lookup still starts after its own request's read-your-writes wait, so it sees at least what it would have
seen alone.

A lookup that finds no other underway goes at once (after the requests ready in this turn of the event loop):
a lone client waits for nothing. One that finds others underway (their query in flight, or gathering) gathers
for up to GATHER_SECONDS, so that lookups that arrive one by one, as gRPC calls on one connection do, still
share a query."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterator
from typing import Any

Fetch = Callable[[Hashable, list[str]], Awaitable[dict[str, Any]]]
MAX_KEYS_PER_QUERY = 500
GATHER_SECONDS = 0.002


class Coalescer:
    def __init__(self, fetch: Fetch) -> None:
        """`fetch(group, keys)` returns the found records by key; a key not in the answer was not found."""
        self._fetch = fetch
        self._waiting: dict[Hashable, dict[str, list[asyncio.Future[Any]]]] = {}
        self._flushes: set[asyncio.Task[None]] = set()
        self._underway = 0  # lookups waiting for their answer

    async def get(self, group: Hashable, key: str) -> Any:
        loop = asyncio.get_running_loop()
        found: asyncio.Future[Any] = loop.create_future()
        waiting = self._waiting.get(group)
        if waiting is None:
            waiting = self._waiting[group] = {}
            if self._underway:
                loop.call_later(GATHER_SECONDS, self._start_flush, group)
            else:
                loop.call_soon(self._start_flush, group)
        waiting.setdefault(key, []).append(found)
        self._underway += 1
        try:
            return await found
        finally:
            self._underway -= 1

    def _start_flush(self, group: Hashable) -> None:
        task = asyncio.ensure_future(self._flush(group, self._waiting.pop(group)))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _flush(self, group: Hashable, waiting: dict[str, list[asyncio.Future[Any]]]) -> None:
        keys = list(waiting)
        try:
            for start in range(0, len(keys), MAX_KEYS_PER_QUERY):
                chunk = keys[start:start + MAX_KEYS_PER_QUERY]
                try:
                    records = await self._fetch(group, chunk)
                except Exception as error:  # noqa: BLE001 - every request in the batch answers with the error
                    for _, future in _unsettled(waiting, chunk):
                        future.set_exception(error)
                    continue
                for key, future in _unsettled(waiting, chunk):
                    future.set_result(records.get(key))
        finally:  # cancelled at shutdown: no request may wait forever
            for _, future in _unsettled(waiting, keys):
                future.cancel()


def _unsettled(waiting: dict[str, list[asyncio.Future[Any]]],
               keys: list[str]) -> Iterator[tuple[str, asyncio.Future[Any]]]:
    """The futures still waiting; a request whose client went away has cancelled its own."""
    for key in keys:
        for future in waiting[key]:
            if not future.done():
                yield key, future
