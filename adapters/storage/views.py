"""The BASIC and FULL view tables: the projection engine writes them, the JobReader API reads them."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.storage.database import Database
from adapters.storage.schema import VIEW_TABLES
from domain.enums import JobView
from projections.render import stored_view
from projections.rows import ViewRow

COLUMNS = ("stream_id", "job_id", "job_type", "status", "project_id", "agent_id", "creation_time", "document",
           "version", "position")
_SELECT = ", ".join(COLUMNS)


class _PositionMoved(Exception):
    pass


@dataclass(frozen=True)
class JobFilter:
    """What a list asks for. Empty lists mean all."""

    project_id: str | None = None
    agent_id: str | None = None
    statuses: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageKey:
    """Where a page starts: after this (creation time, job id), newest first."""

    creation_time: str
    job_id: str


@dataclass
class _Query:
    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> None:
        self.where.append(clause)
        self.params.extend(params)


def _row(record: Sequence[Any]) -> ViewRow:
    values = dict(zip(COLUMNS, record, strict=True))
    values["document"] = json.loads(values["document"])
    return ViewRow(**values)


def _table(view: JobView) -> str:
    return VIEW_TABLES[stored_view(view)]


class SqlViewStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the projection engine's side

    def position(self, view: JobView) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT position FROM projection_positions WHERE view_name = ?", (view.value,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def rows(self, view: JobView, stream_ids: Sequence[str]) -> dict[str, ViewRow]:
        found: dict[str, ViewRow] = {}
        with self.db.transaction(write=False) as cursor:
            for start in range(0, len(stream_ids), 500):
                chunk = stream_ids[start:start + 500]
                cursor.execute(f"SELECT {_SELECT} FROM {_table(view)} WHERE stream_id IN "
                               f"({', '.join('?' * len(chunk))})", chunk)
                for record in cursor.fetchall():
                    row = _row(record)
                    found[row.stream_id] = row
        return found

    def commit(self, view: JobView, rows: Sequence[ViewRow], from_position: int, to_position: int) -> bool:
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:])
        try:
            with self.db.transaction() as cursor:
                cursor.execute("UPDATE projection_positions SET position = ? WHERE view_name = ? AND position = ?",
                               (to_position, view.value, from_position))
                if cursor.rowcount != 1:
                    raise _PositionMoved
                if rows:
                    cursor.executemany(
                        f"INSERT INTO {_table(view)} ({_SELECT}) VALUES ({', '.join('?' * len(COLUMNS))})"
                        f" ON CONFLICT (stream_id) DO UPDATE SET {updates}",
                        [(r.stream_id, r.job_id, r.job_type, r.status, r.project_id, r.agent_id, r.creation_time,
                          json.dumps(r.document, separators=(",", ":")), r.version, r.position) for r in rows])
        except _PositionMoved:
            return False
        return True

    # --- the reader's side

    def get(self, view: JobView, job_id: str) -> ViewRow | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {_SELECT} FROM {_table(view)} WHERE job_id = ?", (job_id,))
            record = cursor.fetchone()
        return None if record is None else _row(record)

    def list(self, view: JobView, wanted: JobFilter, after: PageKey | None, limit: int) -> list[ViewRow]:
        """Up to `limit` rows matching `wanted`, newest first, starting after `after`."""
        query = _Query()
        if wanted.project_id is not None:
            query.add("project_id = ?", wanted.project_id)
        if wanted.agent_id is not None:
            query.add("agent_id = ?", wanted.agent_id)
        if wanted.statuses:
            query.add(f"status IN ({', '.join('?' * len(wanted.statuses))})", *wanted.statuses)
        if wanted.types:
            query.add(f"job_type IN ({', '.join('?' * len(wanted.types))})", *wanted.types)
        if after is not None:
            query.add("(creation_time < ? OR (creation_time = ? AND job_id < ?))",
                      after.creation_time, after.creation_time, after.job_id)
        where = f"WHERE {' AND '.join(query.where)}" if query.where else ""
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT {_SELECT} FROM {_table(view)} {where} "
                           "ORDER BY creation_time DESC, job_id DESC LIMIT ?", (*query.params, limit))
            return [_row(record) for record in cursor.fetchall()]

    def job_ids(self, view: JobView) -> list[str]:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT job_id FROM {_table(view)} ORDER BY job_id")
            return [str(job_id) for (job_id,) in cursor.fetchall()]

    def count(self, view: JobView) -> int:
        with self.db.transaction(write=False) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {_table(view)}")
            return int(cursor.fetchone()[0])
