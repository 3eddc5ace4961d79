"""Connection limits of a real `jobstore serve`, over raw sockets: a connection that has not sent a complete
request in time is closed (idle, headers that never end, a byte a second), connections beyond the cap are refused
with UNAVAILABLE, and a client that keeps its connection alive and sends whole requests is never cut. The server
runs with a short deadline and a small cap (the defaults are 30 s and 1000 connections)."""
from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.conftest import BACKENDS
from tests.e2e.conftest import store_location
from tests.e2e.server import Server

REQUEST_SECONDS = 1.5
KEEP_ALIVE_SECONDS = 1
MAX_CONNECTIONS = 20
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    limits = {"JOBSTORE_HTTP_REQUEST_TIMEOUT": str(REQUEST_SECONDS),
              "JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT": str(KEEP_ALIVE_SECONDS),
              "JOBSTORE_HTTP_MAX_CONNECTIONS": str(MAX_CONNECTIONS)}
    with store_location(request.param) as (url, schema):
        running = Server(Path(tmp_path_factory.mktemp("limits")), url, schema, extra_env=limits).start()
        yield running
        running.stop()


# --- helpers


def connect(server: Server, stack: ExitStack) -> socket.socket:
    return stack.enter_context(socket.create_connection(("127.0.0.1", server.port), timeout=10))


def closed_by_server(sock: socket.socket, wait: float = 0.0) -> bool:
    """Whether the server has closed `sock` (end of stream or reset), waiting up to `wait` seconds to know; what
    it sent before is read and dropped."""
    while select.select([sock], [], [], wait)[0]:
        try:
            if not sock.recv(65536):
                return True
        except ConnectionResetError:
            return True
    return False


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length from a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    while len(body) < int(headers["content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection in the middle of a body"
        body += chunk
    return int(status_line.split()[1]), headers, body


def wait_until_closed(sockets: list[socket.socket], within: float, feed: bytes = b"", every: float = 0.25) -> float:
    """Seconds until the server closed every socket, sending `feed` one byte at a time on each meanwhile."""
    started = time.monotonic()
    open_sockets, position = list(sockets), 0
    while open_sockets and time.monotonic() - started < within:
        if position < len(feed):
            for sock in open_sockets:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # closed: seen below
                    sock.send(feed[position:position + 1])
            position += 1
        open_sockets = [sock for sock in open_sockets if not closed_by_server(sock, every)]
    assert not open_sockets, f"{len(open_sockets)} of {len(sockets)} connections still open after {within} s"
    return time.monotonic() - started


# --- a deadline for each request


def test_connections_that_send_nothing_are_closed_at_the_request_deadline(server: Server) -> None:
    with ExitStack() as stack:
        idle = [connect(server, stack) for _ in range(10)]
        took = wait_until_closed(idle, within=REQUEST_SECONDS + 3)
    assert took >= REQUEST_SECONDS - 0.5


def test_request_headers_that_never_end_are_closed_at_the_request_deadline(server: Server) -> None:
    with ExitStack() as stack:
        unfinished = connect(server, stack)
        unfinished.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        took = wait_until_closed([unfinished], within=REQUEST_SECONDS + 3)
    assert took >= REQUEST_SECONDS - 0.5


def test_a_request_sent_a_byte_at_a_time_is_closed_at_the_deadline_on_a_fresh_or_a_kept_alive_connection(
        server: Server) -> None:
    endless = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: " + b"a" * 1000
    with ExitStack() as stack:
        fresh = [connect(server, stack) for _ in range(5)]
        kept_alive = [connect(server, stack) for _ in range(2)]
        for sock in kept_alive:  # one whole request first: the trickle starts after an answer
            sock.sendall(HEALTHZ)
            assert read_response(sock)[0] == 200
        took = wait_until_closed(fresh + kept_alive, within=REQUEST_SECONDS + 3, feed=endless, every=0.1)
    assert took >= REQUEST_SECONDS - 0.5


def test_a_request_body_sent_a_byte_at_a_time_is_closed_at_the_deadline(server: Server) -> None:
    with ExitStack() as stack:
        slow = connect(server, stack)
        slow.sendall(b"POST /v1/jobs:upsert HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n")
        wait_until_closed([slow], within=REQUEST_SECONDS + 3, feed=b" " * 1000, every=0.1)


def test_a_client_that_keeps_its_connection_alive_and_sends_whole_requests_is_never_cut(server: Server) -> None:
    with ExitStack() as stack:
        client = connect(server, stack)
        started = time.monotonic()
        answered = 0
        while time.monotonic() - started < 2 * REQUEST_SECONDS:
            client.sendall(HEALTHZ[:20])  # a request in two parts, a moment apart
            time.sleep(0.1)
            client.sendall(HEALTHZ[20:])
            status, _, body = read_response(client)
            assert (status, json.loads(body)) == (200, {"status": "ok"})
            answered += 1
            time.sleep(KEEP_ALIVE_SECONDS / 2)
        assert answered >= 4 and not closed_by_server(client)


# --- a cap on open connections


def test_connections_beyond_the_cap_are_answered_unavailable_and_closed(server: Server) -> None:
    time.sleep(0.5)  # the server has seen the earlier tests' connections close
    with ExitStack() as stack:
        sockets = [connect(server, stack) for _ in range(MAX_CONNECTIONS + 5)]
        time.sleep(0.5)  # the refusals have arrived; the served connections wait for a request
        refused = [sock for sock in sockets if select.select([sock], [], [], 0)[0]]
        served = [sock for sock in sockets if sock not in refused]
        assert len(refused) >= 5 and len(served) <= MAX_CONNECTIONS, (len(refused), len(served))
        for sock in refused:
            received = b""
            try:
                while chunk := sock.recv(65536):
                    received += chunk
            except ConnectionResetError:
                assert received == b""  # refused outright: allowed as well
                continue
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 ") and b"connection: close" in head.lower(), received
            error = json.loads(body)
            assert error["code"] == 14 and error["details"] == [] and "connections" in error["message"], error
        for sock in served[:3]:
            sock.sendall(HEALTHZ)
            assert read_response(sock)[0] == 200
    time.sleep(0.5)  # the server has seen them close: there is room again
    with ExitStack() as stack:
        again = connect(server, stack)
        again.sendall(HEALTHZ)
        assert read_response(again)[0] == 200
    assert "refusing connections" in server.log()
