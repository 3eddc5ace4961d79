"""A request message as json_format.MessageToDict writes it (proto3's JSON names, enums by name and a number the
enum does not know as the number, 64-bit integers as text, times in RFC 3339, unset fields left out), from a plan
per field made once. MessageToDict works out each field's conversion again on every call, in Python: on the
bench's job lifecycles, 27 us per UpsertJob against 11 us this way (with the dict the core takes built around it).

Only the kinds of field jobstore's requests hold are planned; `plan` refuses any other when the module that
converts a message type is imported, so a .proto change cannot reach a request unconverted.
tests/unit/test_request_json.py holds the result equal to MessageToDict's on generated messages."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

Convert = Callable[[Any], Any]
_TIMESTAMP = "google.protobuf.Timestamp"
_PLANS: dict[FieldDescriptor, tuple[str, Convert | None]] = {}


def as_json(message: Message) -> dict[str, Any]:
    converted = {}
    for field, value in message.ListFields():
        name, convert = _PLANS.get(field) or _planned(field)
        converted[name] = value if convert is None else convert(value)
    return converted


def plan(descriptor: Descriptor) -> None:
    """Plan every field `descriptor` holds, at any depth; TypeError for a kind of field as_json does not convert."""
    for field in descriptor.fields:
        if field not in _PLANS:
            _planned(field)
            if field.message_type is not None and field.message_type.full_name != _TIMESTAMP:
                plan(field.message_type)


def _planned(field: FieldDescriptor) -> tuple[str, Convert | None]:
    one = _one(field)
    if not field.is_repeated:
        convert = one
    elif one is None:
        convert = list
    else:
        def convert(values: Any) -> list[Any]:
            return [one(value) for value in values]
    _PLANS[field] = (field.json_name, convert)
    return _PLANS[field]


def _one(field: FieldDescriptor) -> Convert | None:
    kind = field.cpp_type
    if field.is_extension:
        raise _unplanned(field, "an extension")
    if kind == FieldDescriptor.CPPTYPE_MESSAGE:
        nested = field.message_type
        if nested.GetOptions().map_entry:
            raise _unplanned(field, "a map")
        if nested.full_name == _TIMESTAMP:
            return _timestamp
        if nested.full_name.startswith("google.protobuf."):
            raise _unplanned(field, f"a {nested.full_name}")
        return as_json
    if kind == FieldDescriptor.CPPTYPE_ENUM:
        if field.enum_type.is_closed:
            raise _unplanned(field, "a closed (proto2) enum")
        names = {value.number: value.name for value in field.enum_type.values}
        return lambda number: names.get(number, number)
    if kind in (FieldDescriptor.CPPTYPE_INT64, FieldDescriptor.CPPTYPE_UINT64):
        return str
    if kind == FieldDescriptor.CPPTYPE_DOUBLE:
        return _double
    if kind == FieldDescriptor.CPPTYPE_STRING and field.type == FieldDescriptor.TYPE_BYTES:
        raise _unplanned(field, "bytes")
    if kind in (FieldDescriptor.CPPTYPE_STRING, FieldDescriptor.CPPTYPE_BOOL, FieldDescriptor.CPPTYPE_INT32,
                FieldDescriptor.CPPTYPE_UINT32):
        return None
    raise _unplanned(field, f"of C++ type {kind}")


def _timestamp(value: Any) -> str:
    return str(value.ToJsonString())


def _double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    return value


def _unplanned(field: FieldDescriptor, kind: str) -> TypeError:
    return TypeError(f"{field.full_name} is {kind}, which as_json does not convert: add it to request_json.py "
                     "and its test, or convert the message with json_format.MessageToDict")
