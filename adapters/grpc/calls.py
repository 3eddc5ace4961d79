"""What every gRPC method shares: the caller from the call's metadata (rime-api-key, x-request-id), the checks in
the contract's order (authentication, role, then the request's own validity, which begins with its bytes being
a message), errors as gRPC statuses with the googlerpc Status in grpc-status-details-bin, and the answer's
metadata (x-jobstore-position, x-jobstore-request-id), in the trailers: initial metadata of its own would cost
the call a separate write."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

from jobstore.adapters.core.access import Permission, Principal, authenticate, authorize
from jobstore.adapters.core.commands import Caller, Written, new_request_id, refused_request_id
from jobstore.adapters.core.queries import MAX_POSITION
from jobstore.adapters.core.service import Core
from jobstore.adapters.errors import DeadlineExceeded, ReplayedError, message_of, position_of, status_of
from jobstore.adapters.grpc.convert import (
    check_request,
    in_proto_terms,
    job_fields_in_proto_terms,
    replayed_in_proto_terms,
    with_grpc_names,
)
from jobstore.adapters.observability import Metrics
from jobstore.domain.errors import InvalidArgument

log = logging.getLogger("jobstore.grpc")
API_KEY = "rime-api-key"
REQUEST_ID = "x-request-id"
SERVER_REQUEST_ID = "x-jobstore-request-id"
IDEMPOTENCY_KEY = "idempotency-key"
POSITION = "x-jobstore-position"
MIN_POSITION = "x-jobstore-min-position"
STATUS_DETAILS = "grpc-status-details-bin"
STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}
DEADLINE_EXCEEDED = grpc.StatusCode.DEADLINE_EXCEEDED.value[0]
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]


@dataclass
class Call:
    """One call: its metadata, the ids it goes by, and the metadata its answer carries."""

    context: grpc.aio.ServicerContext[Any, Any]
    core: Core
    metadata: dict[str, str]
    server_request_id: str = field(default_factory=new_request_id)
    request_id: str = ""
    principal: Principal | None = None
    answer_metadata: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, context: grpc.aio.ServicerContext[Any, Any], core: Core) -> Call:
        metadata = {key: value for key, value in (context.invocation_metadata() or ())
                    if isinstance(value, str)}
        return cls(context, core, metadata)

    @property
    def caller(self) -> Caller:
        assert self.principal is not None, "the call was authenticated first"
        return Caller(self.principal, self.request_id, self.server_request_id)

    @property
    def idempotency_key(self) -> str | None:
        return self.metadata.get(IDEMPOTENCY_KEY)

    @property
    def min_position(self) -> int | None:
        """x-jobstore-min-position, as the REST API's minPosition."""
        sent = self.metadata.get(MIN_POSITION)
        if sent is None:
            return None
        if not sent.isascii() or not sent.lstrip("-").isdigit() or int(sent) > MAX_POSITION:
            raise InvalidArgument(f"{MIN_POSITION} metadata", f"must be a log position, an integer from 0 to "
                                                              f"{MAX_POSITION} (got {sent[:40]!r})")
        return int(sent)

    async def admit(self, permission: Permission | None, doing: str | None = None) -> None:
        """Authentication, then the role, then what is wrong with the call's own metadata."""
        sent_id = self.metadata.get(REQUEST_ID)
        refusal = refused_request_id(sent_id, f"{REQUEST_ID} metadata")
        self.request_id = sent_id if sent_id and refusal is None else self.server_request_id
        # x-request-id echoes the client's id; without one it would repeat x-jobstore-request-id, and each
        # unique value in the trailers costs both ends encoding it.
        self.answer_metadata = [(SERVER_REQUEST_ID, self.server_request_id)]
        if self.request_id != self.server_request_id:
            self.answer_metadata.append((REQUEST_ID, self.request_id))
        if permission is None:
            return
        self.principal = await authenticate(self.core.services.keys, self.metadata.get(API_KEY), API_KEY)
        authorize(self.principal, permission, doing)
        if refusal is not None:
            raise refusal
        remaining = self.context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise DeadlineExceeded("the call's deadline passed before it could begin; nothing was done")

    def read_at(self, position: int) -> None:
        """A read's answer carries the position of the log the view it came from stood at (to watch from)."""
        self.answer_metadata.append((POSITION, str(position)))

    def written(self, written: Written) -> None:
        if written.position is not None:
            self.answer_metadata.append((POSITION, str(written.position)))
        if written.replayed:
            self.answer_metadata.append(("idempotent-replayed", "true"))


def parsed(message_class: type[Message], raw: bytes) -> Message:
    """The request's bytes as its message; bytes that are not one, or a message that check_request refuses, are
    INVALID_ARGUMENT."""
    try:
        request = message_class.FromString(raw)
    except (DecodeError, RecursionError, ValueError) as error:
        raise InvalidArgument("request", f"is not a valid {message_class.DESCRIPTOR.full_name} message "
                                         f"({error or 'its bytes do not decode'})") from None
    check_request(request, raw)
    return request


async def run_whole(work: Awaitable[Message]) -> Message:
    """Run a write to its end even when the client cancels or its deadline passes meanwhile: what it appends and
    the idempotency record that remembers it are never cut in half. (The client then learns nothing; a retry
    with its idempotency key gets the answer.)"""
    return await asyncio.shield(asyncio.ensure_future(work))


def expired(context: grpc.aio.ServicerContext[Any, Any]) -> bool:
    """The call's deadline has passed: the client has its DEADLINE_EXCEEDED, and gRPC may have ended the call
    already, so that whatever is sent on it fails (which grpcio logs as an error, traceback and all)."""
    remaining = context.time_remaining()
    return remaining is not None and remaining <= 0


async def abort(call: Call, error: Exception, route: str) -> None:
    """End the call with the error's status: the contract's code and message, the googlerpc Status in
    grpc-status-details-bin, and the request ids. An unexpected error says only which request the log tells of.
    A call past its deadline is left to end as cancelled, unanswered."""
    code, _ = status_of(error)
    if isinstance(error, InvalidArgument):
        error = in_proto_terms(error)
    elif isinstance(error, ReplayedError) and code == 3:
        error = replayed_in_proto_terms(error)
    message = with_grpc_names(message_of(error))
    if code == FAILED_PRECONDITION:
        message = job_fields_in_proto_terms(message)
    if code == 13 and not isinstance(error, ReplayedError):
        log.error("internal error in %s (request id %s)", route, call.server_request_id, exc_info=error)
        message = f"internal error (request id {call.server_request_id}); the server log has the details"
    details = status_pb2.Status(code=code, message=message).SerializeToString()
    trailing = (*call.answer_metadata, (STATUS_DETAILS, details))
    if isinstance(error, ReplayedError):
        trailing = (*trailing, ("idempotent-replayed", "true"))
    position = position_of(error)
    if position is not None:
        trailing = (*trailing, (POSITION, str(position)))
    if expired(call.context):
        raise asyncio.CancelledError
    await call.context.abort(STATUS_CODES[code], message, trailing_metadata=trailing)


Handler = Callable[[Call, Any], Awaitable[Message | bytes]]  # bytes: the answer already encoded
StreamHandler = Callable[[Call, Any], AsyncIterator[Message]]


@dataclass(frozen=True)
class Method:
    """A method of a service: its request message, the permission it needs (None: no API key), and its handler
    (unary, or a server stream); `doing` says what a caller without the permission may not do, when the REST
    route that shares the method's query says it."""

    name: str
    request: type[Message]
    permission: Permission | None
    handle: Handler | None = None
    stream: StreamHandler | None = None
    doing: str | None = None


def method_handler(service: str, method: Method, core: Core, metrics: Metrics) -> grpc.RpcMethodHandler:
    """The grpcio handler of `method`: bytes in and out, so that what does not decode is this code's to answer."""
    route = f"/{service}/{method.name}"

    seconds = metrics.grpc_request_seconds.labels(route)
    counters: dict[int, Any] = {}  # per status code, looked up once: a metric's labels() costs a tenth of a GetJob

    def observe(code: int, started: float) -> None:
        counter = counters.get(code)
        if counter is None:
            counter = counters[code] = metrics.grpc_requests.labels(route, STATUS_CODES[code].name)
        counter.inc()
        seconds.observe(time.perf_counter() - started)

    async def unary(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        started, call = time.perf_counter(), Call.of(context, core)
        try:
            await call.admit(method.permission, method.doing)
            assert method.handle is not None
            answer = await method.handle(call, parsed(method.request, raw))
        except Exception as error:
            observe(status_of(error)[0], started)
            await abort(call, error, route)
            raise AssertionError("abort raises") from error
        if expired(context):
            observe(DEADLINE_EXCEEDED, started)
            raise asyncio.CancelledError
        context.set_trailing_metadata(call.answer_metadata)
        observe(0, started)
        return answer if isinstance(answer, bytes) else bytes(answer.SerializeToString())

    async def stream(raw: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
        started, call = time.perf_counter(), Call.of(context, core)
        try:
            await call.admit(method.permission, method.doing)
            assert method.stream is not None
            async for answer in method.stream(call, parsed(method.request, raw)):
                if expired(context):
                    observe(DEADLINE_EXCEEDED, started)
                    raise asyncio.CancelledError
                yield bytes(answer.SerializeToString())
        except Exception as error:
            observe(status_of(error)[0], started)
            await abort(call, error, route)
            raise AssertionError("abort raises") from error
        context.set_trailing_metadata(call.answer_metadata)
        observe(0, started)

    if method.stream is not None:
        return grpc.unary_stream_rpc_method_handler(stream)
    return grpc.unary_unary_rpc_method_handler(unary)


def service_handler(service: str, methods: list[Method], core: Core, metrics: Metrics) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        service, {method.name: method_handler(service, method, core, metrics) for method in methods})
