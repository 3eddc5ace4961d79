"""A gRPC call whose deadline passes while the server works on it: the client already has DEADLINE_EXCEEDED, and
gRPC may have ended the call, so the server sends nothing more on it (no answer, no error status). Sending on such
a call fails inside grpcio, which then logs an ERROR with a traceback for what is a client's ordinary timeout."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from unittest.mock import MagicMock

import grpc
import pytest
from google.protobuf.message import Message

from jobstore.adapters.grpc.calls import Call, Method, method_handler
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.domain.errors import InvalidArgument


class Aborted(Exception):
    pass


class Context:
    """The servicer context as the handlers see it, with a clock that says whether the deadline has passed once
    the method's own work is done."""

    def __init__(self) -> None:
        self.remaining: float | None = 10.0
        self.sent: list[Any] = []

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()

    def time_remaining(self) -> float | None:
        return self.remaining

    def set_trailing_metadata(self, metadata: Any) -> None:
        self.sent.append(("metadata", metadata))

    async def abort(self, code: grpc.StatusCode, message: str, trailing_metadata: Any = ()) -> None:
        self.sent.append(("status", code))
        raise Aborted(code)


def unary(work: Any) -> tuple[Any, MagicMock]:
    """A key-free unary method whose work is `work(call, request)`, and its metrics."""
    metrics = MagicMock()
    handler = method_handler("jobstore.v1.Health", Method("Live", v1.LiveRequest, None, work), MagicMock(), metrics)
    return handler.unary_unary, metrics


def deadline_passes_during(context: Context, outcome: Message | Exception) -> Any:
    async def work(call: Call, request: Any) -> Message:
        context.remaining = 0
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
    return work


def test_an_answer_ready_before_the_deadline_is_sent() -> None:
    context = Context()
    handle, metrics = unary(lambda call, request: _answer(v1.HealthResponse(status="ok")))

    answer = asyncio.run(handle(b"", context))

    assert v1.HealthResponse.FromString(answer).status == "ok"
    assert [kind for kind, _ in context.sent] == ["metadata"]
    metrics.grpc_requests.labels.assert_called_once_with("/jobstore.v1.Health/Live", "OK")


def test_an_answer_ready_after_the_deadline_is_not_sent() -> None:
    context = Context()
    handle, metrics = unary(deadline_passes_during(context, v1.HealthResponse(status="ok")))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(handle(b"", context))

    assert context.sent == []
    metrics.grpc_requests.labels.assert_called_once_with("/jobstore.v1.Health/Live", "DEADLINE_EXCEEDED")


def test_an_error_found_before_the_deadline_is_sent() -> None:
    context = Context()
    handle, _ = unary(lambda call, request: _fail(InvalidArgument("status", "is wrong")))

    with pytest.raises(Aborted):
        asyncio.run(handle(b"", context))

    assert context.sent == [("status", grpc.StatusCode.INVALID_ARGUMENT)]


def test_an_error_found_after_the_deadline_is_not_sent() -> None:
    context = Context()
    handle, metrics = unary(deadline_passes_during(context, InvalidArgument("status", "is wrong")))

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(handle(b"", context))

    assert context.sent == []
    metrics.grpc_requests.labels.assert_called_once_with("/jobstore.v1.Health/Live", "INVALID_ARGUMENT")


def test_a_stream_stops_sending_once_its_deadline_passed() -> None:
    context = Context()

    async def events(call: Call, request: Any) -> AsyncIterator[Message]:
        yield v1.Event(position=1)
        context.remaining = 0
        yield v1.Event(position=2)

    handler = method_handler("jobstore.v1.Audit", Method("StreamLog", v1.StreamLogRequest, None, stream=events),
                             MagicMock(), MagicMock())
    received: list[int] = []

    async def consume() -> None:
        async for item in handler.unary_stream(b"", context):
            received.append(v1.Event.FromString(item).position)

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(consume())
    assert received == [1], "the first event went, the second did not"
    assert context.sent == [], "nor the stream's trailing metadata"


async def _answer(message: Message) -> Message:
    return message


async def _fail(error: Exception) -> Message:
    raise error
