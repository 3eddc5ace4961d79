"""The stored event format, known here and nowhere else: which topics name job events (today's and those that
earlier versions wrote), how the event store's JSON wraps values (`{"_type_": ..., "_data_": ...}`), and where
a field sits in a stored event. Projections and audit receive events decoded by this module.

Decoding for the views reads straight from the stored JSON, without building domain objects. The views never
look inside most of a job's `jobData` fields (a stress test's progress is most of an event): those stay
encoded, as `msgspec.Raw` slices of the stored JSON, and the view store writes them out as they came. Only the
fields a view column is derived from are decoded.
"""
from __future__ import annotations

from typing import Any, cast

import msgspec
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic, register_topic

from jobstore.domain.document import JobChange
from jobstore.domain.job import Job
from jobstore.projections.columns import JOB_DATA_FIELDS
from jobstore.projections.rows import LoggedEvent

# Up to 8244eee the packages were installed as top-level `domain`, `projections` and `adapters`, so events and
# snapshots stored by those versions name the aggregate `domain.job:Job`. Registered, that topic (and every
# `domain.job:Job.<Event>`) resolves to today's class.
LEGACY_JOB_TOPIC = "domain.job:Job"
register_topic(LEGACY_JOB_TOPIC, Job)
JOB_TOPIC = get_topic(Job)
EVENT_CLASSES: dict[str, type[Job.Event]] = {cls.__name__: cls for cls in (
    Job.Created, Job.Upserted, Job.Failed, Job.CancellationRequested, Job.CancellationFinalized)}
_EVENT_TYPE_OF_TOPIC = {f"{aggregate}.{name}": name for aggregate in (JOB_TOPIC, LEGACY_JOB_TOPIC)
                        for name in EVENT_CLASSES}

# Where the time an event was recorded sits in its stored JSON: the library wraps datetimes.
RECORDED_AT_PATH = ("timestamp", "_data_")


class UnknownEvent(Exception):
    """The log holds an event that is not a job event this version of jobstore knows, or cannot read."""


def event_type(topic: str, position: int) -> str:
    """The job event's type (`Created`, `Upserted`, ...) that a stored topic names."""
    name = _EVENT_TYPE_OF_TOPIC.get(topic)
    if name is None:
        raise UnknownEvent(f"event at position {position} has topic {topic!r}, not a job event")
    return name


def job_event(mapper: Mapper[Any], stored: StoredEvent) -> Job.Event:
    """A stored event as the domain event it records (for audit: history, verification, export)."""
    if stored.topic not in _EVENT_TYPE_OF_TOPIC:
        raise UnknownEvent(f"event {stored.originator_version} of stream {stored.originator_id} has topic "
                           f"{stored.topic!r}, not a job event")
    event = mapper.to_domain_event(stored)
    assert isinstance(event, Job.Event), f"{stored.topic} is not a job event"
    return event


def stored_event(mapper: Mapper[Any], event: Job.Event) -> StoredEvent:
    return mapper.to_stored_event(event)


def rebuilt_event(type_name: str, **fields: Any) -> Job.Event:
    """A job event of type `type_name` (`Created`, ...) from its fields (for import)."""
    event_class = EVENT_CLASSES[type_name]
    if event_class is Job.Created:
        fields["originator_topic"] = JOB_TOPIC
    return event_class(**fields)


class _Timestamp(msgspec.Struct):
    iso: str = msgspec.field(name=RECORDED_AT_PATH[1])


class _ViewedEvent(msgspec.Struct):
    """What the projections read of a stored job event: the views its data, the log's Merkle tree its hash. The
    other fields (who wrote it, the link to the event before) the decoder steps over without building them."""

    timestamp: _Timestamp
    data: dict[str, msgspec.Raw]
    hash: str


class _WholeEvent(msgspec.Struct):
    timestamp: _Timestamp
    data: dict[str, Any]


_event = msgspec.json.Decoder(_ViewedEvent)
_whole_event = msgspec.json.Decoder(_WholeEvent)
_job_data = msgspec.json.Decoder(dict[str, dict[str, msgspec.Raw]])
_value = msgspec.json.Decoder()


def decode_for_views(position: int, stream_id: str, version: int, topic: str, state: bytes) -> LoggedEvent:
    kind = event_type(topic, position)
    try:
        event = _event.decode(state)
        data = cast(JobChange, {key: _decode_job_data(value) if key == "jobData" else _value.decode(value)
                                for key, value in event.data.items()})
    except msgspec.DecodeError as error:  # ValidationError is one too
        raise _unreadable(position, topic, error) from None
    return LoggedEvent(position, stream_id, version, kind, data, event.timestamp.iso, event.hash)


def decode_whole(position: int, stream_id: str, version: int, topic: str, state: bytes) -> LoggedEvent:
    """`decode_for_views`, with every field decoded: for those who show the job as it changes (watches)."""
    kind = event_type(topic, position)
    try:
        event = _whole_event.decode(state)
    except msgspec.DecodeError as error:
        raise _unreadable(position, topic, error) from None
    return LoggedEvent(position, stream_id, version, kind, cast(JobChange, event.data), event.timestamp.iso)


def _unreadable(position: int, topic: str, error: Exception) -> UnknownEvent:
    return UnknownEvent(f"event at position {position} ({topic}) cannot be read as a job event: {error}")


def _decode_job_data(encoded: msgspec.Raw) -> dict[str, dict[str, Any]]:
    job_data = _job_data.decode(encoded)
    for fields in job_data.values():
        for name in JOB_DATA_FIELDS:
            if name in fields:
                fields[name] = _value.decode(fields[name])
    return job_data
