"""Lookups that arrive together share one query (the GetJob read path on PostgreSQL)."""
from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import pytest

from jobstore.adapters.storage.coalesce import MAX_KEYS_PER_QUERY, Coalescer


class Table:
    def __init__(self, rows: dict[str, str], fail: Exception | None = None) -> None:
        self.rows = rows
        self.fail = fail
        self.queries: list[tuple[Hashable, list[str]]] = []

    async def fetch(self, group: Hashable, keys: list[str]) -> dict[str, Any]:
        self.queries.append((group, keys))
        await asyncio.sleep(0.001)  # a round trip, during which more lookups may arrive
        if self.fail:
            raise self.fail
        return {k: self.rows[k] for k in keys if k in self.rows}


def test_concurrent_lookups_share_one_query_and_each_gets_its_own_row() -> None:
    table = Table({"a": "row a", "b": "row b"})
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        return await asyncio.gather(*(lookups.get("t", k) for k in ("a", "b", "a", "missing")))

    assert asyncio.run(main()) == ["row a", "row b", "row a", None]
    assert table.queries == [("t", ["a", "b", "missing"])]


def test_lookups_of_different_tables_never_share_a_query() -> None:
    table = Table({"a": "row a"})
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        return await asyncio.gather(lookups.get("basic", "a"), lookups.get("full", "a"))

    assert asyncio.run(main()) == ["row a", "row a"]
    assert sorted(table.queries) == [("basic", ["a"]), ("full", ["a"])]


def test_a_lookup_alone_is_answered_by_a_query_of_its_own() -> None:
    table = Table({"a": "row a"})
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        return [await lookups.get("t", "a"), await lookups.get("t", "b")]

    assert asyncio.run(main()) == ["row a", None]
    assert table.queries == [("t", ["a"]), ("t", ["b"])]


def test_a_failed_query_fails_every_lookup_that_shared_it_and_the_next_query_is_fresh() -> None:
    table = Table({"a": "row a"}, fail=ConnectionError("database away"))
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        failed = await asyncio.gather(lookups.get("t", "a"), lookups.get("t", "b"), return_exceptions=True)
        table.fail = None
        return [*failed, await lookups.get("t", "a")]

    first, second, after = asyncio.run(main())
    assert isinstance(first, ConnectionError) and isinstance(second, ConnectionError)
    assert after == "row a"


def test_a_cancelled_lookup_leaves_the_others_answered() -> None:
    table = Table({"a": "row a", "b": "row b"})
    lookups = Coalescer(table.fetch)

    async def main() -> tuple[Any, bool]:
        gone = asyncio.ensure_future(lookups.get("t", "a"))
        kept = asyncio.ensure_future(lookups.get("t", "b"))
        await asyncio.sleep(0)
        gone.cancel()
        return await kept, gone.cancelled()

    assert asyncio.run(main()) == ("row b", True)


def test_a_large_batch_is_read_in_bounded_queries() -> None:
    keys = [f"k{i}" for i in range(MAX_KEYS_PER_QUERY * 2 + 1)]
    table = Table({k: k.upper() for k in keys})
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        return await asyncio.gather(*(lookups.get("t", k) for k in keys))

    assert asyncio.run(main()) == [k.upper() for k in keys]
    assert [len(q[1]) for q in table.queries] == [MAX_KEYS_PER_QUERY, MAX_KEYS_PER_QUERY, 1]


@pytest.mark.parametrize("concurrent", [2, 16])
def test_lookups_arriving_while_a_query_runs_form_the_next_batch(concurrent: int) -> None:
    table = Table({"a": "row a"})
    lookups = Coalescer(table.fetch)

    async def main() -> None:
        first = asyncio.ensure_future(lookups.get("t", "a"))
        await asyncio.sleep(0.0005)  # the first query is in flight
        later = await asyncio.gather(*(lookups.get("t", "a") for _ in range(concurrent)))
        assert await first == "row a" and later == ["row a"] * concurrent

    asyncio.run(main())
    assert len(table.queries) == 2


def test_lookups_arriving_one_by_one_while_others_are_underway_gather_into_one_query() -> None:
    """As gRPC calls on one connection arrive: one per turn of the event loop."""
    table = Table({"a": "row a", "b": "row b", "c": "row c"})
    lookups = Coalescer(table.fetch)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(lookups.get("t", "a"))
        await asyncio.sleep(0)  # its query is in flight
        later = []
        for key in "bc" * 3:
            later.append(asyncio.ensure_future(lookups.get("t", key)))
            await asyncio.sleep(0)
        return [await first, *(await asyncio.gather(*later))]

    assert asyncio.run(main()) == ["row a"] + ["row b", "row c"] * 3
    assert table.queries == [("t", ["a"]), ("t", ["b", "c"])]


def test_a_lookup_that_finds_none_underway_does_not_wait_to_gather() -> None:
    table = Table({"a": "row a"})
    lookups = Coalescer(table.fetch)

    async def main() -> None:
        lookup = asyncio.ensure_future(lookups.get("t", "a"))
        for _ in range(3):  # the lookup, the flush it schedules, the query's task: no timer in between
            await asyncio.sleep(0)
        assert table.queries == [("t", ["a"])], "its query went without waiting to gather"
        await lookup

    asyncio.run(main())
