"""The gRPC answers' conversion from the core's JSON (adapters/grpc/convert.py parse_message) takes a short way
over the fields it knows and leaves the rest to json_format.ParseDict: whatever the JSON, the message it makes, or
the error it raises, is ParseDict's."""
from __future__ import annotations

from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from jobstore.adapters.grpc.convert import parse_message
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime

ANSWERS = [rime.GetJobResponse, rime.ListJobsResponse, rime.UpsertJobResponse, v1.GetJobAsItWasResponse, v1.Event]
# Times as the core writes them, and as it does not (nanoseconds, offsets, no zone, out of range).
TIMES = st.sampled_from(["2026-11-30T14:23:43.713429Z", "2026-11-30T14:23:43Z", "1969-12-31T23:59:59.5Z",
                         "2026-01-02T03:04:05.123456789Z", "2026-01-02T03:04:05.12+01:30", "2026-01-02T03:04:05",
                         "0000-01-01T00:00:00Z", "not a time"])
WRONG = st.sampled_from([None, 1, 1.5, True, "x", [], {}])
JSON_VALUES = st.none() | st.booleans() | st.text(max_size=5) | st.floats(allow_nan=False, allow_infinity=False)
SCALARS = {
    FieldDescriptor.TYPE_STRING: st.text(max_size=8),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=False, allow_infinity=False) | st.integers(-2**60, 2**60),
    FieldDescriptor.TYPE_INT64: st.integers(-2**63, 2**63 - 1),
}


@cache
def values(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    """Values of the field's JSON, and now and then a value of the wrong kind."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        valid: st.SearchStrategy[Any] = st.sampled_from([value.name for value in field.enum_type.values])
    elif field.type != FieldDescriptor.TYPE_MESSAGE:
        valid = SCALARS[field.type]
    elif field.message_type.full_name == "google.protobuf.Timestamp":
        valid = TIMES
    elif field.message_type.full_name == "google.protobuf.Struct":
        valid = st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3)
    else:
        valid = documents(field.message_type)
    one = sometimes_wrong(valid)
    return sometimes_wrong(st.lists(one, max_size=2)) if field.is_repeated else one


def sometimes_wrong(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.integers(0, 9).flatmap(lambda n: WRONG if n == 0 else valid)


@cache
def documents(descriptor: Descriptor) -> st.SearchStrategy[dict[str, Any]]:
    """JSON of the message: any of its fields (two members of a oneof, too), by JSON name or by proto name, and
    now and then a field it does not have."""
    optional = {field.json_name: values(field) for field in descriptor.fields}
    optional |= {field.name: values(field) for field in descriptor.fields}
    optional["noSuchField"] = st.just(1)
    return st.fixed_dictionaries({}, optional=optional).filter(lambda d: "noSuchField" not in d or len(d) % 5 == 0)


def made_by(convert: Any, message: type[Message], data: Any) -> bytes | str:
    try:
        return bytes(convert(message(), data).SerializeToString(deterministic=True))
    except json_format.ParseError as refused:
        return f"refused: {refused}"


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_answer_converts_as_json_format_converts_it(data: st.DataObject) -> None:
    message = data.draw(st.sampled_from(ANSWERS))
    document = data.draw(documents(message.DESCRIPTOR))
    assert made_by(parse_message, message, document) == made_by(lambda into, data: json_format.ParseDict(data, into),
                                                                message, document)


def test_the_core_s_answer_takes_the_short_way_to_the_same_message() -> None:
    job = {"jobId": "j", "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_RUNNING",
           "creationTime": "2026-11-30T14:23:43.713429Z", "startTime": "1969-12-31T23:59:59.5Z",
           "cancellationRequested": False, "runningTimeSecs": 0, "jobProgressStr": "0 / 1 tests completed",
           "jobData": {"stress": {"projectId": {"uuid": "p"}, "progress": {"testRun": {
               "testRunId": "t", "testBatches": [{"type": "b", "status": "TEST_TASK_STATUS_RUNNING"}]}}}},
           "archivedJobLogs": {"url": {}}}
    answer = {"jobs": [job, {"jobId": "k", "jobData": {"continuousInc": {}}}], "hasMore": False}
    made = parse_message(rime.ListJobsResponse(), answer)
    assert made == json_format.ParseDict(answer, rime.ListJobsResponse())
    assert made.jobs[0].start_time.seconds == -1 and made.jobs[0].start_time.nanos == 500_000_000
    assert made.jobs[0].archived_job_logs.HasField("url") and made.jobs[1].job_data.HasField("continuous_inc")


def test_what_json_format_refuses_is_refused_with_its_words() -> None:
    for wrong in ({"jobData": {"stress": {}, "fileScan": {}}}, {"status": "JOB_STATUS_DONE"}, {"jobId": 7},
                  {"creationTime": "2026-01-02T03:04:05"}, {"agentId": "a"}, {"jobs": []}):
        job = {"jobId": "j", **wrong}
        refused = made_by(lambda into, data: json_format.ParseDict(data, into), rime.GetJobResponse, {"job": job})
        assert str(refused).startswith("refused: ")
        assert made_by(parse_message, rime.GetJobResponse, {"job": job}) == refused
