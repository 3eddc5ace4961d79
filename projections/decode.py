"""Decoding stored events for the views: straight from the stored JSON, without building domain objects.

The views never look inside most of a job's `jobData` fields (a stress test's progress is most of an event):
those stay encoded, as `msgspec.Raw` slices of the stored JSON, and the view store writes them out as they
came. Only the fields a view column is derived from are decoded.
"""
from __future__ import annotations

from typing import Any

import msgspec

from projections.rows import LoggedEvent

JOB_EVENT_TOPIC = "domain.job:Job."
COLUMN_FIELDS = ("projectId",)  # the jobData fields a column is derived from (projections.render.project_id)


class UnknownEvent(Exception):
    """The log holds an event that is not a job event this version of jobstore knows, or cannot read."""


class _Timestamp(msgspec.Struct):
    iso: str = msgspec.field(name="_data_")


class _ViewedEvent(msgspec.Struct):
    """What the views read of a stored job event. The other fields (the hash chain, who wrote it) are about half
    of each event; the decoder steps over them without building them."""

    timestamp: _Timestamp
    data: dict[str, msgspec.Raw]


_event = msgspec.json.Decoder(_ViewedEvent)
_job_data = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_value = msgspec.json.Decoder()


def decode(position: int, stream_id: str, version: int, topic: str, state: bytes) -> LoggedEvent:
    if not topic.startswith(JOB_EVENT_TOPIC):
        raise UnknownEvent(f"event at position {position} has topic {topic!r}, not a job event")
    try:
        event = _event.decode(state)
        data = {key: _decode_job_data(value) if key == "jobData" else _value.decode(value)
                for key, value in event.data.items()}
    except msgspec.DecodeError as error:  # ValidationError is one too
        raise UnknownEvent(f"event at position {position} ({topic}) cannot be read as a job event: {error}") from None
    return LoggedEvent(position, stream_id, version, topic[len(JOB_EVENT_TOPIC):], data, event.timestamp.iso)


def _decode_job_data(encoded: msgspec.Raw) -> dict[str, dict[str, Any]]:
    job_data = _job_data.decode(encoded)
    for fields in job_data.values():
        for name in COLUMN_FIELDS:
            if name in fields:
                fields[name] = _value.decode(fields[name])
    return job_data
