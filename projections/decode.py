"""Decoding stored events for the views: straight from the stored JSON, without building domain objects."""
from __future__ import annotations

from typing import Any

import msgspec

from projections.rows import LoggedEvent

JOB_EVENT_TOPIC = "domain.job:Job."


class UnknownEvent(Exception):
    """The log holds an event that is not a job event this version of jobstore knows, or cannot read."""


class _Timestamp(msgspec.Struct):
    iso: str = msgspec.field(name="_data_")


class _ViewedEvent(msgspec.Struct):
    """What the views read of a stored job event. The other fields (the hash chain, who wrote it) are about half
    of each event; the decoder steps over them without building them."""

    timestamp: _Timestamp
    data: dict[str, Any]


_decoder = msgspec.json.Decoder(_ViewedEvent)


def decode(position: int, stream_id: str, version: int, topic: str, state: bytes) -> LoggedEvent:
    if not topic.startswith(JOB_EVENT_TOPIC):
        raise UnknownEvent(f"event at position {position} has topic {topic!r}, not a job event")
    try:
        event = _decoder.decode(state)
    except msgspec.DecodeError as error:  # ValidationError is one too
        raise UnknownEvent(f"event at position {position} ({topic}) cannot be read as a job event: {error}") from None
    return LoggedEvent(position, stream_id, version, topic[len(JOB_EVENT_TOPIC):], event.data, event.timestamp.iso)
