"""The BASIC and FULL view tables: the projection engine writes them, the JobReader API reads them.

Which table serves a view is itself a row (`view_tables`), so that a rebuilt copy can replace a view in one
transaction while the old copy keeps serving until then.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from contextvars import ContextVar
from typing import Any, NamedTuple, TypeVar, cast

import orjson

from jobstore.adapters.core.lists import JobFilter, PageKey
from jobstore.adapters.storage.backend import Backend
from jobstore.adapters.storage.coalesce import Coalescer
from jobstore.adapters.storage.pages import read_view_page
from jobstore.adapters.storage.schema import create_view_table
from jobstore.domain.enums import JobView
from jobstore.projections.columns import COLUMN_NAMES
from jobstore.projections.engine import Alongside
from jobstore.projections.render import stored_view
from jobstore.projections.rows import ViewRow

_SELECT = ", ".join(("stream_id", "document", "version", "position", *COLUMN_NAMES))  # as _COLUMNS
_COLUMNS = ["stream_id", "document", "version", "position", *COLUMN_NAMES]
_SELECT_FROM_V = ", ".join(f"v.{column}" for column in _COLUMNS)
_JOB_ID = 4 + COLUMN_NAMES.index("job_id")  # where job_id stands in a selected record
TABLE_CACHE_SECONDS = 1.0
T = TypeVar("T")


class ViewRead(NamedTuple):
    """A job's row as a view holds it (None: no such job) and the view's position when it was read."""

    row: ViewRow | None
    position: int


class ViewPage(NamedTuple):
    """A page of a list: its rows, whether more follow, and the view's position when it was read."""

    rows: list[ViewRow]
    more: bool
    position: int


class _Refused(Exception):
    pass


def _row(record: Sequence[Any]) -> ViewRow:
    return ViewRow(record[0], orjson.loads(record[1]), record[2], record[3], tuple(record[4:]))


class SqlViewStore:
    """The views as the live service sees them (`bound` gives a copy writing fixed tables, for rebuilds)."""

    def __init__(self, backend: Backend, tables: dict[JobView, str] | None = None) -> None:
        self.backend = backend
        self.db = backend.db
        self._fixed = tables
        self._cache: dict[JobView, str] = {}
        self._cached_at = 0.0
        self._lock = threading.Lock()
        # The table each view's projection step started on. A context variable, not a thread-local, so that the
        # engine can hand a step's commits to other threads (it copies its context along).
        self._step: ContextVar[dict[JobView, str]] = ContextVar(f"jobstore-step-tables-{id(self)}")
        self._lookups = Coalescer(self._rows_by_job_id)

    def bound(self, tables: dict[JobView, str]) -> SqlViewStore:
        return SqlViewStore(self.backend, tables)

    # --- which table serves a view

    def tables(self, fresh: bool = False) -> dict[JobView, str]:
        if self._fixed is not None:
            return self._fixed
        with self._lock:
            if fresh or time.monotonic() - self._cached_at > TABLE_CACHE_SECONDS:
                with self.db.transaction(write=False) as cursor:
                    cursor.execute("SELECT view_name, table_name FROM view_tables")
                    self._cache = {JobView(v): str(t) for v, t in cursor.fetchall()}
                self._cached_at = time.monotonic()
            return dict(self._cache)

    def table(self, view: JobView, fresh: bool = False) -> str:
        return self.tables(fresh)[stored_view(view)]

    def _reading(self, view: JobView, read: Callable[[str], T]) -> T:
        """Run `read` on the view's table; if a swap just dropped it, look the table up again once."""
        try:
            return read(self.table(view))
        except Exception as error:
            if not self.backend.is_missing_table(error):
                raise
            return read(self.table(view, fresh=True))

    # --- the projection engine's side

    def position(self, view: JobView) -> int:
        """The view's position; a projection step that starts here goes on writing to this same table."""
        table = self.table(view, fresh=True)
        self._step.set({**self._step.get({}), view: table})
        return self.position_of(table)

    def _step_table(self, view: JobView) -> str:
        return self._step.get({}).get(view) or self.table(view, fresh=True)

    def position_of(self, table: str) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT position FROM projection_positions WHERE table_name = ?", (table,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def rows(self, view: JobView, stream_ids: Sequence[str]) -> dict[str, ViewRow]:
        table = self._step_table(view)
        found: dict[str, ViewRow] = {}
        with self.db.transaction(write=False) as cursor:
            for start in range(0, len(stream_ids), 500):
                chunk = stream_ids[start:start + 500]
                cursor.execute(f"SELECT {_SELECT} FROM {table} WHERE stream_id IN ({', '.join('?' * len(chunk))})",
                               chunk)
                for record in cursor.fetchall():
                    row = _row(record)
                    found[row.stream_id] = row
        return found

    def commit(self, view: JobView, rows: Sequence[ViewRow], from_position: int, to_position: int,
               alongside: Alongside | None = None) -> bool:
        table = self._step_table(view)
        try:
            with self.db.transaction() as cursor:
                if self._fixed is None:
                    # Still the table that serves the view? Also locks out a swap until this commit is done.
                    cursor.execute("UPDATE view_tables SET table_name = table_name WHERE view_name = ? AND "
                                   "table_name = ?", (stored_view(view).value, table))
                    if cursor.rowcount != 1:
                        raise _Refused
                cursor.execute("UPDATE projection_positions SET position = ? WHERE table_name = ? AND position = ?",
                               (to_position, table, from_position))
                if cursor.rowcount != 1:
                    raise _Refused
                if rows:
                    self.backend.upsert_rows(cursor, table, COLUMN_NAMES, rows)
                if alongside is not None and not alongside(cursor):
                    raise _Refused
        except _Refused:
            return False
        return True

    # --- rebuilds

    def create_copy(self, table: str) -> None:
        with self.db.transaction() as cursor:
            create_view_table(cursor, table)

    def swap(self, view: JobView, new_table: str) -> str | None:
        """Make `new_table` serve `view` if it has caught up with the current table; returns the old table."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT table_name FROM view_tables WHERE view_name = ?", (view.value,))
            old = str(cursor.fetchone()[0])
            # Lock the view's row first: the live worker cannot commit to the old table past this point.
            cursor.execute("UPDATE view_tables SET table_name = table_name WHERE view_name = ?", (view.value,))
            cursor.execute("SELECT table_name, position FROM projection_positions WHERE table_name IN (?, ?)",
                           (old, new_table))
            positions = {str(t): int(p) for t, p in cursor.fetchall()}
            if positions.get(new_table, -1) < positions.get(old, 0):
                return None
            cursor.execute("UPDATE view_tables SET table_name = ? WHERE view_name = ?", (new_table, view.value))
        self.tables(fresh=True)
        return old

    def drop(self, table: str) -> None:
        assert table not in self.tables(fresh=True).values(), f"{table} still serves a view"
        with self.db.transaction() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
            cursor.execute("DELETE FROM projection_positions WHERE table_name = ?", (table,))

    # --- the reader's side

    def get(self, view: JobView, job_id: str) -> ViewRow | None:
        def read(table: str) -> ViewRow | None:
            with self.backend.reads.transaction(write=False) as cursor:
                cursor.execute(f"SELECT {_SELECT} FROM {table} WHERE job_id = ?", (job_id,))
                record = cursor.fetchone()
            return None if record is None else _row(record)
        return self._reading(view, read)

    async def get_async(self, view: JobView, job_id: str) -> ViewRead:
        """`get` for the event loop, with the view's position read in the same statement: lookups that arrive
        together share one query (see coalesce.py)."""
        if time.monotonic() - self._cached_at > TABLE_CACHE_SECONDS:
            await self.backend.point_read(lambda: self.tables(True))
        for fresh in (False, True):
            table = self._cache[stored_view(view)]
            try:
                if not self.backend.gathers_lookups:
                    return (await self._rows_by_job_id(table, [job_id]))[job_id]
                return cast(ViewRead, await self._lookups.get(table, job_id))
            except Exception as error:
                if fresh or not self.backend.is_missing_table(error):
                    raise
                await self.backend.point_read(lambda: self.tables(True))
        raise AssertionError("unreachable: the second try returns or raises")

    async def _rows_by_job_id(self, table: Hashable, job_ids: list[str]) -> dict[str, ViewRead]:
        records = await self.backend.rows_by_job_id(str(table), _SELECT_FROM_V, job_ids)
        position = int(records[0][0])
        found = {record[1 + _JOB_ID]: ViewRead(_row(record[1:]), position) for record in records
                 if record[1] is not None}
        return {job_id: found.get(job_id) or ViewRead(None, position) for job_id in job_ids}

    def page(self, view: JobView, wanted: JobFilter, after: PageKey | None, limit: int,
             max_bytes: int) -> ViewPage:
        """Up to `limit` rows matching `wanted`, newest first, starting after `after`, whose documents hold at
        most `max_bytes` together (the first row comes whatever its size); and whether more rows match.

        The database cuts the page: only the rows given, and no more than one past them, leave it (the one past
        without its document, to tell that more follow)."""
        where: list[str] = []
        params: list[Any] = []
        if wanted.project_id is not None:
            where.append("project_id = ?")
            params.append(wanted.project_id)
        if wanted.agent_id is not None:
            where.append("agent_id = ?")
            params.append(wanted.agent_id)
        for column, values in wanted.selected:
            assert column in COLUMN_NAMES, column
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)
        if after is not None:
            where.append("(creation_time < ? OR (creation_time = ? AND job_id < ?))")
            params.extend((after.creation_time, after.creation_time, after.job_id))
        condition = " AND ".join(where) or "TRUE"

        def read(table: str) -> ViewPage:
            with self.backend.reads.transaction(write=False) as cursor:
                records, more, position = read_view_page(cursor, self.backend, _COLUMNS, 1, table, condition,
                                                         params, "creation_time DESC, job_id DESC", limit, max_bytes)
            return ViewPage([_row(record) for record in records], more, position)
        return self._reading(view, read)

    def job_ids(self, view: JobView) -> list[str]:
        def read(table: str) -> list[str]:
            with self.db.transaction(write=False) as cursor:
                cursor.execute(f"SELECT job_id FROM {table} ORDER BY job_id")
                return [str(job_id) for (job_id,) in cursor.fetchall()]
        return self._reading(view, read)

    def count(self, view: JobView) -> int:
        def read(table: str) -> int:
            with self.db.transaction(write=False) as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM {table}")
                return int(cursor.fetchone()[0])
        return self._reading(view, read)
