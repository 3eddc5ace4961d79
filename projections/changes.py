"""How a job's view changes, event by event: what a watch sends. Each event yields the job's whole document after
it, and the list columns before and after it (a watch's filter is a choice of column values)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import NamedTuple

from jobstore.domain.document import JobDocument, merge_into, owned_copy
from jobstore.projections.columns import column_values
from jobstore.projections.rows import LoggedEvent

Columns = tuple[str | None, ...]


class ViewChange(NamedTuple):
    """What one event made of its job: the columns before it (None for a new job) and after it, and the whole
    document after it, which nothing changes afterwards (the next change of the job is a new document)."""

    position: int
    stream_id: str
    version: int
    before: Columns | None
    after: Columns
    document: JobDocument


class PriorMissing(Exception):
    """The document a job had before an event is not known here: load it (see `ChangeFold.missing`)."""


class ChangeFold:
    """Turns events into changes, remembering the documents of the jobs changed most recently (at most
    `capacity`); the document a job had before an event must be known, or loaded with `remember`."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._documents: OrderedDict[str, tuple[int, JobDocument]] = OrderedDict()

    def missing(self, events: Iterable[LoggedEvent]) -> dict[str, int]:
        """The jobs whose document before these events is not known: by stream, the version to load."""
        wanted: dict[str, int] = {}
        seen: set[str] = set()
        for event in events:
            if event.stream_id in seen:
                continue
            seen.add(event.stream_id)
            known = self._documents.get(event.stream_id)
            if event.version > 1 and (known is None or known[0] != event.version - 1):
                wanted[event.stream_id] = event.version - 1
        return wanted

    def remember(self, stream_id: str, version: int, document: JobDocument) -> None:
        self._documents[stream_id] = (version, document)
        self._documents.move_to_end(stream_id)
        while len(self._documents) > self.capacity:
            self._documents.popitem(last=False)

    def apply(self, event: LoggedEvent) -> ViewChange:
        known = self._documents.get(event.stream_id)
        if event.version == 1:
            before = None
        elif known is not None and known[0] == event.version - 1:
            before = known[1]
        else:
            raise PriorMissing(f"job stream {event.stream_id} before version {event.version}")
        document = {} if before is None else owned_copy(before)
        merge_into(document, event.data)
        self.remember(event.stream_id, event.version, document)
        return ViewChange(event.position, event.stream_id, event.version,
                          None if before is None else column_values(before), column_values(document), document)


def document_at(events: Iterable[LoggedEvent], version: int) -> JobDocument:
    """A job's document after its first `version` events (`events` are the stream's, oldest first)."""
    document: JobDocument = {}
    for event in events:
        if event.version > version:
            break
        merge_into(document, event.data)
    return document
