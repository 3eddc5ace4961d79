"""The gRPC write requests' conversion to the REST API's JSON (adapters/grpc/request_json.py) gives exactly what
json_format.MessageToDict gives, and the request check (convert.check_request), which finds unknown fields by
their bytes, refuses exactly what a walk of every message in the request refuses, naming the same field: on
requests generated from the messages' descriptors, with every field, unknown enum numbers, 64-bit integers,
doubles that JSON has no number for, times, and unknown fields at any depth."""
from __future__ import annotations

import math
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from jobstore.adapters.grpc.convert import _first_refusal, check_request
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.grpc.request_json import as_json, plan
from jobstore.domain.errors import InvalidArgument
from tests.protobuf_wire import varint

WRITES = [rime.UpsertJobRequest, rime.FailJobRequest, rime.FinalizeCancellationRequest]
EVERY_REQUEST = [*WRITES, rime.ListJobsRequest, rime.ListJobsForProjectRequest, rime.GetJobRequest,
                 rime.CancelJobRequest, rime.GetTestRunIDRequest, rime.GetProjectIDRequest,
                 v1.ListJobEventsRequest, v1.GetJobAsItWasRequest, v1.StreamLogRequest, v1.GetInclusionProofRequest,
                 v1.GetConsistencyProofRequest, v1.WatchJobsRequest]
_TIMESTAMP = "google.protobuf.Timestamp"
_INT_RANGES = {FieldDescriptor.CPPTYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1),
               FieldDescriptor.CPPTYPE_INT64: (-2**63, 2**63 - 1), FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1)}


def _scalars(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.cpp_type
    if kind == FieldDescriptor.CPPTYPE_ENUM:  # known names, and numbers the enum does not know
        return st.one_of(st.sampled_from([value.number for value in field.enum_type.values]),
                         st.integers(-2**31, 2**31 - 1))
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return st.integers(low, high)
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return st.one_of(st.sampled_from([math.nan, math.inf, -math.inf, -0.0]), st.floats())
    if kind == FieldDescriptor.CPPTYPE_BOOL:
        return st.booleans()
    return st.text(max_size=8)


def _times(in_range: bool) -> st.SearchStrategy[dict[str, int]]:
    seconds = (st.integers(-62_135_596_800, 253_402_300_799) if in_range else
               st.one_of(st.integers(-62_135_596_800, 253_402_300_799), st.integers(-2**63, 2**63 - 1)))
    nanos = st.integers(0, 999_999_999) if in_range else st.integers(-2**31, 2**31 - 1)
    return st.fixed_dictionaries({"seconds": seconds, "nanos": nanos})


@st.composite
def messages(draw: st.DrawFn, descriptor: Descriptor, depth: int = 0, times_in_range: bool = True) -> Message:
    """A message of `descriptor`'s type with any of its fields set (several members of a oneof: the last wins)."""
    made = message_factory.GetMessageClass(descriptor)()
    for field in draw(st.lists(st.sampled_from(list(descriptor.fields)), max_size=len(descriptor.fields), unique=True)):
        nested = field.message_type
        if nested is not None and nested.full_name == _TIMESTAMP:
            values: st.SearchStrategy[Any] = _times(times_in_range)
        elif nested is not None:
            if depth >= 5:
                continue
            values = messages(nested, depth + 1, times_in_range)
        else:
            values = _scalars(field)
        container = getattr(made, field.name)
        if field.is_repeated:
            for value in draw(st.lists(values, max_size=3)):
                if nested is None:
                    container.append(value)
                elif isinstance(value, dict):
                    container.add(**value)
                else:
                    container.add().CopyFrom(value)
        elif nested is None:
            setattr(made, field.name, draw(values))
        else:
            value = draw(values)
            container.SetInParent()
            if isinstance(value, dict):
                container.seconds, container.nanos = value["seconds"], value["nanos"]
            else:
                container.CopyFrom(value)
    return made


# The write requests are what the server converts; the others hold the kinds of field they do not (64-bit
# integers, doubles), which a write request may come to hold.
CONVERTED = [*WRITES, rime.ListJobsRequest, rime.GetJobResponse, rime.ListJobsResponse]


@pytest.mark.parametrize("message_class", CONVERTED, ids=[cls.__name__ for cls in CONVERTED])
@settings(max_examples=300)
@given(data=st.data())
def test_a_message_converts_as_message_to_dict_converts_it(message_class: type[Message],
                                                           data: st.DataObject) -> None:
    converted = data.draw(messages(message_class.DESCRIPTOR))
    assert as_json(converted) == json_format.MessageToDict(converted)


def _with_unknown_fields(request: Message, draw: st.DrawFn) -> bytes:
    """`request`'s bytes with unknown fields merged into it or into messages it holds, at any depth."""
    holders = _messages_in(request)
    for _ in range(draw(st.integers(1, 3))):
        holder = draw(st.sampled_from(holders))
        undefined = sorted(set(range(1, 61)) - {field.number for field in holder.DESCRIPTOR.fields})
        number = draw(st.sampled_from(undefined))
        holder.MergeFromString(varint(number << 3) + varint(draw(st.integers(0, 2**40))))  # wire type 0
    return bytes(request.SerializeToString())


def _messages_in(message: Message) -> list[Message]:
    found = [message]
    for field, value in message.ListFields():
        if field.message_type is not None and field.message_type.full_name != _TIMESTAMP:
            for item in value if field.is_repeated else [value]:
                found.extend(_messages_in(item))
    return found


def _refusal(check: Any) -> tuple[str, str] | None:
    try:
        check()
    except InvalidArgument as refused:
        return refused.field, refused.message
    return None


@pytest.mark.parametrize("request_class", EVERY_REQUEST, ids=[cls.__name__ for cls in EVERY_REQUEST])
@settings(max_examples=150)
@given(data=st.data())
def test_the_request_check_refuses_what_a_walk_of_every_message_refuses(request_class: type[Message],
                                                                        data: st.DataObject) -> None:
    request = data.draw(messages(request_class.DESCRIPTOR, times_in_range=data.draw(st.booleans())))
    raw = _with_unknown_fields(request, data.draw) if data.draw(st.booleans()) else request.SerializeToString()
    walked = _refusal(lambda: _first_refusal(request_class.FromString(raw)))
    assert _refusal(lambda: check_request(request_class.FromString(raw), raw)) == walked


def test_a_kind_of_field_the_conversion_does_not_plan_is_refused_when_its_message_is_planned() -> None:
    pool = descriptor_pool.DescriptorPool()
    file = descriptor_pb2.FileDescriptorProto(name="t.proto", package="t", syntax="proto3")
    kind = descriptor_pb2.FieldDescriptorProto
    file.message_type.add(name="WithBytes").field.add(name="blob", number=1, type=kind.TYPE_BYTES,
                                                      label=kind.LABEL_OPTIONAL)
    pool.Add(file)
    with_bytes = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.WithBytes"))
    with pytest.raises(TypeError, match=r"t\.WithBytes\.blob is bytes"):
        plan(with_bytes.DESCRIPTOR)


def test_of_two_times_out_of_range_the_check_names_the_one_with_the_lower_field_number() -> None:
    request = rime.UpsertJobRequest(job_id="j")
    run = request.job_data.continuous_inc.progress.test_runs.add()
    run.bin_end_time.seconds = 2**62  # field 3, set first
    run.bin_start_time.seconds = -2**62  # field 2
    raw = request.SerializeToString()
    with pytest.raises(InvalidArgument) as refused:
        check_request(rime.UpsertJobRequest.FromString(raw), raw)
    assert refused.value.field == "job_data.continuous_inc.progress.test_runs.0.bin_start_time"
