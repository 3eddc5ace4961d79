"""What adapters/http/connections.py relies on in uvicorn, pinned: uvicorn's h11 protocol, subclassed there, driven
here through a stand-in transport with deadlines of a few hundredths of a second. An upgrade of uvicorn that
renames the protocol's hooks (connection_made, data_received, on_response_complete, connection_lost) or its
attributes (conn, connections, loop, transport), or stops taking the protocol class it is given, fails here."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from jobstore.adapters.http import connections
from jobstore.adapters.http.connections import limited_protocol

DEADLINE = 0.2
LATE = 0.5  # how late a timer may fire on a busy machine
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n"


class Transport(asyncio.Transport):
    """What uvicorn's protocol uses of a socket's transport; closing it tells the protocol, as asyncio's does."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.protocol: asyncio.Protocol | None = None
        self.written = bytearray()
        self.closed_after: float | None = None
        self.started = loop.time()
        self.eof_written = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof_written = True

    def close(self) -> None:
        if self.closed_after is None:
            self.closed_after = self.loop.time() - self.started
            assert self.protocol is not None
            self.loop.call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closed_after is not None

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class App:
    """Answers every request with 200 after `delay` seconds, and remembers how many it was asked."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.requests = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.requests += 1
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def connect(app: App, max_connections: int = 10, open_already: int = 0) -> tuple[H11Protocol, Transport]:
    protocol_class = limited_protocol(DEADLINE, max_connections)
    config = uvicorn.Config(app, http=protocol_class, lifespan="off", timeout_keep_alive=5)
    config.load()
    assert config.http_protocol_class is protocol_class
    state = ServerState()
    state.connections.update(object() for _ in range(open_already))
    protocol = config.http_protocol_class(config=config, server_state=state, app_state={})
    assert isinstance(protocol, H11Protocol)
    transport = Transport(asyncio.get_running_loop())
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


async def closed(transport: Transport) -> float:
    """Seconds from the connection's opening to its closing, which must come in time."""
    for _ in range(int((DEADLINE * 5 + LATE) / 0.01)):
        if transport.closed_after is not None:
            return transport.closed_after
        await asyncio.sleep(0.01)
    raise AssertionError("the connection is still open")


def test_a_connection_that_sends_nothing_is_closed_at_its_deadline() -> None:
    async def scenario() -> tuple[float, bytes]:
        _, transport = connect(App())
        return await closed(transport), bytes(transport.written)

    closed_after, written = asyncio.run(scenario())
    assert DEADLINE - 0.01 <= closed_after <= DEADLINE + LATE and written == b""


def test_a_request_trickled_a_byte_at_a_time_is_closed_at_its_deadline() -> None:
    async def scenario() -> tuple[App, float]:
        app = App()
        protocol, transport = connect(app)
        for byte in REQUEST[:30]:
            if transport.is_closing():
                break
            protocol.data_received(bytes([byte]))
            await asyncio.sleep(DEADLINE / 10)
        return app, await closed(transport)

    app, closed_after = asyncio.run(scenario())
    assert DEADLINE - 0.01 <= closed_after <= DEADLINE + LATE and app.requests == 0


def test_a_complete_request_has_no_deadline_while_it_is_answered_and_the_next_has_one_from_the_answer() -> None:
    async def scenario() -> tuple[float, bytes]:
        protocol, transport = connect(App(delay=DEADLINE * 2))
        protocol.data_received(REQUEST)
        return await closed(transport), bytes(transport.written)

    closed_after, answered = asyncio.run(scenario())
    assert answered.startswith(b"HTTP/1.1 200 ") and answered.endswith(b"\r\n\r\nok")
    assert DEADLINE * 3 - 0.01 <= closed_after <= DEADLINE * 3 + LATE  # the answer's time, then a deadline


def test_a_keep_alive_client_sending_whole_requests_is_never_cut() -> None:
    async def scenario() -> Transport:
        protocol, transport = connect(App())
        for _ in range(12):
            protocol.data_received(REQUEST)
            await asyncio.sleep(DEADLINE / 4)
        return transport

    transport = asyncio.run(scenario())
    assert transport.closed_after is None and transport.written.count(b"HTTP/1.1 200 ") == 12


def test_a_connection_beyond_the_cap_is_answered_unavailable_and_its_request_is_not_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "REFUSED_LINGER_SECONDS", DEADLINE)

    async def scenario() -> tuple[App, Transport, float]:
        app = App()
        protocol, transport = connect(app, max_connections=3, open_already=3)
        protocol.data_received(REQUEST)
        return app, transport, await closed(transport)

    app, transport, closed_after = asyncio.run(scenario())
    head, _, body = bytes(transport.written).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503 ") and b"connection: close" in head
    assert json.loads(body) == {"code": 14, "message": "this server has 3 connections open, its limit; try again "
                                                       "later", "details": []}
    assert transport.eof_written and DEADLINE - 0.01 <= closed_after <= DEADLINE + LATE
    assert app.requests == 0
