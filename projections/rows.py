"""Pure row building: a batch of logged events and the rows they touch become the new rows of one view."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from jobstore.domain.document import JobChange, JobDocument, merge_into, owned_copy
from jobstore.domain.enums import JobView
from jobstore.projections.columns import column_values
from jobstore.projections.render import view_document


class LoggedEvent(NamedTuple):  # a tuple, not a dataclass: catch-up decodes hundreds of thousands of these
    """One event of the global log, decoded: where it stands, which job stream, and the data it changes (some of
    whose jobData fields may still be encoded, see jobstore.adapters.storage.codec)."""

    position: int
    stream_id: str
    version: int
    type: str
    data: JobChange
    recorded_at: str = ""
    chain_hash: str = ""  # its hash in the job's chain, hex: its leaf in the log's Merkle tree


class ViewRow(NamedTuple):  # a tuple, like LoggedEvent: a frozen dataclass costs a few µs more per row
    """One job in one view: its document, how far its stream was applied, and the values of the columns that
    lists filter and sort on (projections.columns.COLUMNS, in order)."""

    stream_id: str
    document: JobDocument
    version: int
    position: int
    columns: tuple[str | None, ...]

    @property
    def job_id(self) -> str:
        return self.document["jobId"]

    @property
    def creation_time(self) -> str:
        return self.document["creationTime"]


class BrokenStream(Exception):
    """The log holds an event for a job stream that has no creation event before it."""


def row_for(stream_id: str, document: JobDocument, version: int, position: int) -> ViewRow:
    return ViewRow(stream_id, document, version, position, column_values(document))


def fold(view: JobView, events: Iterable[LoggedEvent], current: Mapping[str, ViewRow]) -> list[ViewRow]:
    """The rows of `view` after `events`, given the rows they touch as they stand now (`current`).

    Returns one row per job changed, in the order first touched. Events a row has already seen (by version)
    are skipped, so a batch replayed after a crash cannot apply an event twice. A job created within the batch
    needs no current row.
    """
    documents: dict[str, list[Any]] = {}  # stream: [document this fold owns, version, position]
    for event in events:
        known = documents.get(event.stream_id)
        if known is None:
            row = current.get(event.stream_id)
            if row is None and event.type != "Created":
                raise BrokenStream(f"event {event.type} v{event.version} at position {event.position} belongs to "
                                   f"stream {event.stream_id}, which has no Created event before it")
            known = [{} if row is None else owned_copy(row.document), 0 if row is None else row.version, 0]
            documents[event.stream_id] = known
        if event.version <= known[1]:
            continue
        merge_into(known[0], event.data)
        known[1], known[2] = event.version, event.position
    return [row_for(stream, view_document(document, view), version, position)
            for stream, (document, version, position) in documents.items() if position]  # 0: nothing applied


def shown_in(view: JobView, row: ViewRow) -> ViewRow:
    """A row of a richer view (FULL) as `view` keeps it. The columns stay: a view drops only what no column is
    derived from (tests/unit/test_view_rows.py checks that the rows equal those built anew)."""
    return row._replace(document=view_document(row.document, view))


def streams_to_read(events: Iterable[LoggedEvent]) -> list[str]:
    """The jobs whose current row a fold needs: those not created within these events."""
    created, needed = set(), set()
    for event in events:
        if event.version == 1:
            created.add(event.stream_id)
        elif event.stream_id not in created:
            needed.add(event.stream_id)
    return sorted(needed)
