"""The job document: a job's state in the contract's JSON shape, and the one fold that every event applies.

Every event carries `data`, the part of the document it changes. The aggregate and the projections both apply
events with `merge`, so the write side and the views cannot disagree on what an event means.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict, cast


class RimeUUID(TypedDict):
    uuid: str


class JobData(TypedDict, total=False):
    """The data of a job's type, under the key that belongs to it (enums.JOB_DATA_KEY)."""

    stress: dict[str, Any]
    continuousInc: dict[str, Any]
    fileScan: dict[str, Any]


class JobDocument(TypedDict, total=False):
    """A job's state in the contract's JSON shape (a plain dict at run time). A stored job always has jobId,
    jobType, status, creationTime and cancellationRequested; an event's `data` (a JobChange) holds only the
    fields it changes."""

    jobId: str
    jobType: str
    status: str
    creationTime: str
    cancellationRequested: bool
    terminationReason: str
    agentId: RimeUUID
    archivedJobLogs: dict[str, Any]
    jobData: JobData
    startTime: str
    completionTime: str
    errorMsg: str


JobChange = JobDocument


def merge(document: JobDocument, data: JobChange) -> JobDocument:
    """The document after an event's `data`: top-level fields are replaced, `jobData` is merged per field."""
    merged = owned_copy(document) if "jobData" in data else document.copy()
    merge_into(merged, data)
    return merged


def owned_copy(document: JobDocument) -> JobDocument:
    """A copy that `merge_into` may change without changing `document`."""
    copy = document.copy()
    if "jobData" in document:
        kinds = cast(dict[str, dict[str, Any]], document["jobData"])
        copy["jobData"] = cast(JobData, {kind: dict(fields) for kind, fields in kinds.items()})
    return copy


def merge_into(document: JobDocument, data: JobChange) -> None:
    """`merge`, in place, on a document the caller owns down to each `jobData` kind (see `owned_copy`)."""
    fields = cast(dict[str, Any], document)
    for key, value in data.items():
        if key == "jobData":
            job_data = fields.setdefault("jobData", {})
            for kind, kind_fields in cast(dict[str, dict[str, Any]], value).items():
                if kind in job_data:
                    job_data[kind].update(kind_fields)
                else:
                    job_data[kind] = dict(kind_fields)
        else:
            fields[key] = value


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a Z suffix; fixed width, so the text sorts as the time does (the year
    in four digits, which strftime does not give for the year 999). isoformat takes half of strftime's time."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-len("+00:00")] + "Z"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
