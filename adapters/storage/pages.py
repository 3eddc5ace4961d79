"""Pages cut by bytes in the database: a running sum of the rows' sizes in a window over the same ordered scan,
so that only the rows given, and no more than one past them, leave the database (the one past without its
payload, to tell that more follow). The views' lists, a job's history and the feed are read so."""
from __future__ import annotations

from typing import Any

from jobstore.adapters.storage.backend import Backend
from jobstore.adapters.storage.database import Cursor


def read_page(cursor: Cursor, backend: Backend, columns: list[str], payload: int, table: str, where: str,
              params: list[Any], order: str, limit: int, max_bytes: int) -> tuple[list[Any], bool]:
    """Up to `limit` records of `columns` (SQL expressions) from `table` matching `where`, in `order`, whose
    `columns[payload]` values hold at most `max_bytes` together (the first record comes whatever its size);
    and whether more match."""
    size = backend.size_in_bytes.format(columns[payload])
    selected = ", ".join(f"{column} AS c{n}" for n, column in enumerate(columns))
    cut = ", ".join(f"CASE WHEN n = 1 OR running <= ? THEN c{n} END" if n == payload else f"c{n}"
                    for n in range(len(columns)))
    cursor.execute(
        f"SELECT {cut} FROM (SELECT {selected}, {size} AS size, SUM({size}) OVER sized AS running, "
        f"ROW_NUMBER() OVER sized AS n FROM {table} WHERE {where} "
        f"WINDOW sized AS (ORDER BY {order} ROWS UNBOUNDED PRECEDING) ORDER BY {order} LIMIT ?) AS page "
        f"WHERE n = 2 OR running - size <= ? ORDER BY n", (max_bytes, *params, limit + 1, max_bytes))
    records: list[Any] = []
    for record in cursor.fetchall():
        if record[payload] is None:  # the first record past the bytes allowed
            return records, True
        records.append(record)
    return records[:limit], len(records) > limit
