"""The fast JSON-to-message conversion (adapters/grpc/messages.py) builds exactly what protobuf's own
json_format.ParseDict builds, for every kind of answer the gRPC services give."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from jobstore.adapters.grpc.messages import message
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.domain.document import format_time, parse_time

BATCHES = [{"type": f"batch-{i}", "status": "TEST_TASK_STATUS_COMPLETED"} for i in range(3)]
STRESS_FULL = {
    "jobId": "s-1", "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_RUNNING",
    "creationTime": "2026-11-30T14:19:31.579204Z", "startTime": "2026-11-30T14:19:32Z", "runningTimeSecs": 12.5,
    "cancellationRequested": True, "agentId": {"uuid": "agent-1"}, "jobProgressStr": "3 / 3 tests completed",
    "jobData": {"stress": {"projectId": {"uuid": "p"}, "testRunId": "t", "progress": {"testRun": {
        "testRunId": "t", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": BATCHES}}}}}
CONTINUOUS_FAILED = {
    "jobId": "c-1", "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST", "status": "JOB_STATUS_FAILED",
    "creationTime": "2026-11-30T14:19:31.5Z", "completionTime": "2026-11-30T15:00:00.000001Z", "runningTimeSecs": 0,
    "cancellationRequested": False, "terminationReason": "TERMINATION_REASON_OOMKILLED", "errorMsg": "out of memory",
    "archivedJobLogs": {"url": {"url": "https://logs.example.com/c-1"}, "expirationTime": "2026-12-24T00:00:00Z"},
    "jobData": {"continuousInc": {"firewallId": "fw", "ctTestRunIds": ["a", "b"], "progress": {"testRuns": [
        {"testRun": {"testRunId": "a", "status": "TEST_TASK_STATUS_COMPLETED", "testBatches": BATCHES},
         "binStartTime": "2026-11-01T00:00:00Z", "binEndTime": "2026-11-02T00:00:00Z"}]}}}}
FILE_SCAN = {"jobId": "f-1", "jobType": "JOB_TYPE_FILE_SCAN", "status": "JOB_STATUS_RECONCILING",
             "creationTime": "2026-11-30T14:19:31Z", "runningTimeSecs": 0, "cancellationRequested": False,
             "jobData": {"fileScan": {"projectId": {"uuid": "p"}, "fileScanId": "scan"}}}
EVENT = {"position": 7, "jobId": "s-1", "version": 2, "type": "Upserted", "recordedAt": "2026-11-30T14:19:31Z",
         "actor": {"name": "agent", "role": "writer"}, "requestId": "r", "serverRequestId": "s",
         "data": {"status": "JOB_STATUS_RUNNING", "jobData": {"stress": {"progress": {"testRun": {
             "testBatches": BATCHES}}}}, "cancellationRequested": False},
         "hash": "ab" * 32, "prevHash": "cd" * 32}

ANSWERS: list[tuple[type[Message], dict[str, Any]]] = [
    (rime.GetJobResponse, {"job": STRESS_FULL}),
    (rime.UpsertJobResponse, {"job": CONTINUOUS_FAILED}),
    (rime.FailJobResponse, {"job": FILE_SCAN}),
    (rime.ListJobsResponse, {"jobs": [STRESS_FULL, CONTINUOUS_FAILED, FILE_SCAN], "hasMore": True,
                             "nextPageToken": "token"}),
    (rime.ListJobsForProjectResponse, {"jobs": [], "hasMore": False}),
    (v1.ListJobEventsResponse, {"events": [EVENT, {**EVENT, "position": 8}], "nextVersion": 3, "hasMore": True}),
    (v1.Event, EVENT),
    (v1.GetJobAsItWasResponse, {"job": STRESS_FULL}),
]


@pytest.mark.parametrize(("message_class", "data"), ANSWERS, ids=[cls.__name__ for cls, _ in ANSWERS])
def test_the_fast_conversion_builds_what_json_format_builds(message_class: type[Message],
                                                            data: dict[str, Any]) -> None:
    built = message(message_class, data)
    assert built == json_format.ParseDict(data, message_class())
    assert json_format.MessageToDict(built) == json_format.MessageToDict(json_format.ParseDict(data,
                                                                                                message_class()))


@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)))
def test_times_convert_to_the_same_timestamp_to_the_microsecond(moment: datetime) -> None:
    text = format_time(moment)
    built = message(rime.ArchivedJobLogs, {"expirationTime": text})
    assert built == json_format.ParseDict({"expirationTime": text}, rime.ArchivedJobLogs())
    assert built.expiration_time.ToDatetime(tzinfo=UTC) == moment


def test_a_key_no_field_has_is_refused_rather_than_dropped() -> None:
    with pytest.raises(KeyError):
        message(rime.GetJobResponse, {"job": {**FILE_SCAN, "notAField": 1}})


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11, minutes=-30)),
                                               timezone(timedelta(hours=13, minutes=45))])))
def test_format_time_writes_the_same_instant_in_utc_at_a_fixed_width(moment: datetime) -> None:
    text = format_time(moment)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", text), text
    assert parse_time(text) == moment


def test_format_time_writes_the_year_in_four_digits() -> None:
    """strftime writes the year 999 as 999, which no RFC 3339 reader takes (an asOf before it names it)."""
    assert format_time(datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05.000000Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == "2026-01-02T03:04:05.000006Z"
