"""Pure row building: a batch of logged events and the rows they touch become the new rows of one view."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.document import Document, merge
from domain.enums import JobView
from projections.render import agent_id, project_id, view_document


@dataclass(frozen=True)
class LoggedEvent:
    """One event of the global log, decoded: where it stands, which job stream, and the data it changes."""

    position: int
    stream_id: str
    version: int
    type: str
    data: dict[str, Any]
    recorded_at: str = ""


@dataclass(frozen=True)
class ViewRow:
    """One job in one view, with the columns that reads filter and sort on."""

    stream_id: str
    job_id: str
    job_type: str
    status: str
    project_id: str | None
    agent_id: str | None
    creation_time: str
    document: Document
    version: int
    position: int


class BrokenStream(Exception):
    """The log holds an event for a job stream that has no creation event before it."""


def row_for(stream_id: str, document: Document, version: int, position: int) -> ViewRow:
    return ViewRow(stream_id=stream_id, job_id=document["jobId"], job_type=document["jobType"],
                   status=document["status"], project_id=project_id(document), agent_id=agent_id(document),
                   creation_time=document["creationTime"], document=document, version=version,
                   position=position)


def fold(view: JobView, events: Iterable[LoggedEvent], current: Mapping[str, ViewRow]) -> list[ViewRow]:
    """The rows of `view` after `events`, given the rows they touch as they stand now (`current`).

    Returns one row per job changed, in the order first touched. Events a row has already seen (by version)
    are skipped, so a batch replayed after a crash cannot apply an event twice.
    """
    rows: dict[str, ViewRow] = {}
    for event in events:
        previous = rows.get(event.stream_id) or current.get(event.stream_id)
        if previous is not None and event.version <= previous.version:
            continue
        if previous is None and event.type != "Created":
            raise BrokenStream(f"event {event.type} v{event.version} at position {event.position} belongs to "
                               f"stream {event.stream_id}, which has no Created event before it")
        base = {} if previous is None else previous.document
        document = view_document(merge(base, event.data), view)
        rows[event.stream_id] = row_for(event.stream_id, document, event.version, event.position)
    return list(rows.values())
