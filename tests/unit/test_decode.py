"""Decoding stored events for the views reads the event's data and time and nothing else; what it cannot read
is named by its position."""
from __future__ import annotations

import pytest

from projections.decode import UnknownEvent, decode

TOPIC = "domain.job:Job.Upserted"


def test_the_data_and_time_are_read_and_the_other_fields_skipped() -> None:
    state = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-28T00:00:00+00:00"},"job_id":"j",'
             b'"data":{"status":"JOB_STATUS_RUNNING","jobData":{"stress":{"progress":{"n":[1,2.5,null]}}}},'
             b'"actor":"a","role":"writer","request_id":"r","prev_hash":"00","hash":"ff","later_field":{"x":[]}}')
    event = decode(17, "stream", 3, TOPIC, state)
    assert (event.position, event.stream_id, event.version, event.type) == (17, "stream", 3, "Upserted")
    assert event.data == {"status": "JOB_STATUS_RUNNING", "jobData": {"stress": {"progress": {"n": [1, 2.5, None]}}}}
    assert event.recorded_at == "2026-11-28T00:00:00+00:00"


@pytest.mark.parametrize("state", [b'{"timestamp":{"_data_":"t"}}', b'{"data":{}}', b'{"data":[],"timestamp":'
                                   b'{"_data_":"t"}}', b"not json"])
def test_an_event_that_cannot_be_read_is_named_by_its_position(state: bytes) -> None:
    with pytest.raises(UnknownEvent, match="position 17"):
        decode(17, "stream", 3, TOPIC, state)


def test_an_event_of_another_kind_is_refused() -> None:
    with pytest.raises(UnknownEvent, match="not a job event"):
        decode(17, "stream", 1, "other.module:Thing.Happened", b"{}")
