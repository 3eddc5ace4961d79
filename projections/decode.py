"""Decoding stored events for the views: straight from the stored JSON, without building domain objects."""
from __future__ import annotations

from typing import Any

import orjson

from projections.rows import LoggedEvent

JOB_EVENT_TOPIC = "domain.job:Job."


class UnknownEvent(Exception):
    """The log holds an event that is not a job event this version of jobstore knows."""


def decode(position: int, stream_id: str, version: int, topic: str, state: bytes) -> LoggedEvent:
    if not topic.startswith(JOB_EVENT_TOPIC):
        raise UnknownEvent(f"event at position {position} has topic {topic!r}, not a job event")
    payload: dict[str, Any] = orjson.loads(state)
    return LoggedEvent(position, stream_id, version, topic[len(JOB_EVENT_TOPIC):], payload["data"],
                       payload["timestamp"]["_data_"])
