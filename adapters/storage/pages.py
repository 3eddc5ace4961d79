"""Pages cut by bytes in the database: a running sum of the rows' sizes in a window over the same ordered scan,
so that only the rows given, and no more than one past them, leave the database (the one past without its
payload, to tell that more follow). The views' lists, a job's history and the feed are read so."""
from __future__ import annotations

from typing import Any

from jobstore.adapters.storage.backend import POSITION_OF_TABLE, VIEW_POSITION, Backend
from jobstore.adapters.storage.database import Cursor


def read_page(cursor: Cursor, backend: Backend, columns: list[str], payload: int, table: str, where: str,
              params: list[Any], order: str, limit: int, max_bytes: int) -> tuple[list[Any], bool]:
    """Up to `limit` records of `columns` (SQL expressions) from `table` matching `where`, in `order`, whose
    `columns[payload]` values hold at most `max_bytes` together (the first record comes whatever its size);
    and whether more match."""
    cursor.execute(f"{_page_query(backend, columns, payload, table, where, order)} ORDER BY n",
                   (max_bytes, *params, limit + 1, max_bytes))
    return _cut([record[:-1] for record in cursor.fetchall()], payload, limit)


def read_view_page(cursor: Cursor, backend: Backend, columns: list[str], payload: int, table: str, where: str,
                   params: list[Any], order: str, limit: int, max_bytes: int) -> tuple[list[Any], bool, int]:
    """`read_page` of a view table, and the view's position, read in the same statement: the page holds exactly
    the events up to that position."""
    page = _page_query(backend, columns, payload, table, where, order)
    cursor.execute(f"SELECT {VIEW_POSITION}, page.* FROM {POSITION_OF_TABLE} LEFT JOIN ({page}) AS page ON TRUE "
                   "ORDER BY page.n", (table, max_bytes, *params, limit + 1, max_bytes))
    fetched = cursor.fetchall()
    position = int(fetched[0][0])
    records, more = _cut([record[1:-1] for record in fetched if record[-1] is not None], payload, limit)
    return records, more, position


def _page_query(backend: Backend, columns: list[str], payload: int, table: str, where: str, order: str) -> str:
    """The page's records (`c0`, `c1`, ...) and their rank `n`, unordered; its parameters: max_bytes, the
    condition's, the limit plus one, max_bytes."""
    size = backend.size_in_bytes.format(columns[payload])
    selected = ", ".join(f"{column} AS c{n}" for n, column in enumerate(columns))
    cut = ", ".join(f"CASE WHEN n = 1 OR running <= ? THEN c{n} END AS c{n}" if n == payload else f"c{n}"
                    for n in range(len(columns)))
    return (f"SELECT {cut}, n FROM (SELECT {selected}, {size} AS size, SUM({size}) OVER sized AS running, "
            f"ROW_NUMBER() OVER sized AS n FROM {table} WHERE {where} "
            f"WINDOW sized AS (ORDER BY {order} ROWS UNBOUNDED PRECEDING) ORDER BY {order} LIMIT ?) AS ranked "
            f"WHERE n = 2 OR running - size <= ?")


def _cut(fetched: list[Any], payload: int, limit: int) -> tuple[list[Any], bool]:
    records: list[Any] = []
    for record in fetched:
        if record[payload] is None:  # the first record past the bytes allowed
            return records, True
        records.append(record)
    return records[:limit], len(records) > limit
