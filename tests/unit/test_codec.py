"""The stored-event codec: decoding stored events for the views reads the event's data and time and nothing
else; jobData fields that no column is derived from stay encoded, and what cannot be read is named by its
position. Events keep decoding under the topics earlier versions wrote."""
from __future__ import annotations

import msgspec
import pytest

from jobstore.adapters.storage.codec import UnknownEvent, decode_for_views
from jobstore.domain.document import merge
from jobstore.domain.enums import JobView
from jobstore.projections.columns import COLUMN_NAMES
from jobstore.projections.rows import fold

TOPIC = "jobstore.domain.job:Job.Upserted"
STATE = (b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-28T00:00:00+00:00"},"job_id":"j",'
         b'"data":{"status":"JOB_STATUS_RUNNING","agentId":{"uuid":"a1"},"jobData":{"stress":{"projectId":'
         b'{"uuid":"p1"},"progress":{"n":[1,2.5,null,"\\u00e9\\"x"]}}}},"actor":"a","role":"writer","request_id":'
         b'"r","prev_hash":"00","hash":"ff","later_field":{"x":[]}}')
DATA = {"status": "JOB_STATUS_RUNNING", "agentId": {"uuid": "a1"},
        "jobData": {"stress": {"projectId": {"uuid": "p1"}, "progress": {"n": [1, 2.5, None, '\u00e9"x']}}}}


def test_the_data_and_time_are_read_and_the_other_fields_skipped() -> None:
    event = decode_for_views(17, "stream", 3, TOPIC, STATE)
    assert (event.position, event.stream_id, event.version, event.type) == (17, "stream", 3, "Upserted")
    assert event.recorded_at == "2026-11-28T00:00:00+00:00"
    assert msgspec.json.decode(msgspec.json.encode(event.data)) == DATA


def test_only_the_fields_a_column_needs_are_decoded_and_the_rest_is_written_out_as_it_came() -> None:
    event = decode_for_views(17, "stream", 3, TOPIC, STATE)
    stress = event.data["jobData"]["stress"]
    assert stress["projectId"] == {"uuid": "p1"} and event.data["agentId"] == {"uuid": "a1"}
    assert isinstance(stress["progress"], msgspec.Raw)
    assert bytes(stress["progress"]) == b'{"n":[1,2.5,null,"\\u00e9\\"x"]}'


def test_a_view_row_folded_from_decoded_events_encodes_as_the_replayed_document() -> None:
    created = (b'{"timestamp":{"_data_":"t0"},"data":{"jobId":"j","jobType":"JOB_TYPE_MODEL_STRESS_TEST",'
               b'"status":"JOB_STATUS_REQUESTED","creationTime":"c","jobData":{"stress":{"modelId":{"uuid":"m"}}}},'
               b'"hash":"aa"}')
    events = [decode_for_views(1, "s", 1, "jobstore.domain.job:Job.Created", created),
              decode_for_views(2, "s", 2, TOPIC, STATE)]
    [row] = fold(JobView.FULL, events, {})
    replayed = merge(msgspec.json.decode(created)["data"], DATA)
    assert msgspec.json.decode(msgspec.json.encode(row.document)) == replayed
    columns = dict(zip(COLUMN_NAMES, row.columns, strict=True))
    assert (columns["project_id"], columns["agent_id"], columns["status"]) == ("p1", "a1", "JOB_STATUS_RUNNING")


@pytest.mark.parametrize("state", [b'{"timestamp":{"_data_":"t"}}', b'{"data":{}}', b'{"data":[],"timestamp":'
                                   b'{"_data_":"t"}}', b'{"data":{"jobData":[1]},"timestamp":{"_data_":"t"}}',
                                   b"not json"])
def test_an_event_that_cannot_be_read_is_named_by_its_position(state: bytes) -> None:
    with pytest.raises(UnknownEvent, match="position 17"):
        decode_for_views(17, "stream", 3, TOPIC, state)


def test_events_stored_before_jobstore_was_one_package_decode_by_their_old_topic() -> None:
    event = decode_for_views(17, "stream", 3, "domain.job:Job.Upserted", STATE)
    assert event.type == "Upserted" and event == decode_for_views(17, "stream", 3, TOPIC, STATE)


def test_an_event_of_another_kind_is_refused() -> None:
    with pytest.raises(UnknownEvent, match="not a job event"):
        decode_for_views(17, "stream", 1, "other.module:Thing.Happened", b"{}")
