"""The job document: a job's state in the contract's JSON shape, and the one fold that every event applies.

Every event carries `data`, the part of the document it changes. The aggregate and the projections both apply
events with `merge`, so the write side and the views cannot disagree on what an event means.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

Document = dict[str, Any]


def merge(document: Document, data: Document) -> Document:
    """The document after an event's `data`: top-level fields are replaced, `jobData` is merged per field."""
    merged = owned_copy(document) if "jobData" in data else dict(document)
    merge_into(merged, data)
    return merged


def owned_copy(document: Document) -> Document:
    """A copy that `merge_into` may change without changing `document`."""
    copy = dict(document)
    if "jobData" in document:
        copy["jobData"] = {kind: dict(fields) for kind, fields in document["jobData"].items()}
    return copy


def merge_into(document: Document, data: Document) -> None:
    """`merge`, in place, on a document the caller owns down to each `jobData` kind (see `owned_copy`)."""
    for key, value in data.items():
        if key == "jobData":
            job_data = document.setdefault("jobData", {})
            for kind, fields in value.items():
                if kind in job_data:
                    job_data[kind].update(fields)
                else:
                    job_data[kind] = dict(fields)
        else:
            document[key] = value


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a Z suffix; fixed width, so the text sorts as the time does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
