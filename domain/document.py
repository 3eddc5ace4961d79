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
    merged = dict(document)
    for key, value in data.items():
        if key == "jobData":
            job_data = {kind: dict(fields) for kind, fields in merged.get("jobData", {}).items()}
            for kind, fields in value.items():
                job_data[kind] = {**job_data.get(kind, {}), **fields}
            merged["jobData"] = job_data
        else:
            merged[key] = value
    return merged


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a Z suffix; fixed width, so the text sorts as the time does."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
