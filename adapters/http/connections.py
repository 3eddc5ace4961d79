"""Connection limits of `jobstore serve`: a deadline for each request, and a cap on open connections.

uvicorn's HTTP/1.1 protocol sets no timer on a fresh connection, and the keep-alive timer it sets after an answer
is cancelled by any byte received: a client that never finished its request headers, or sent them a byte a
second, held its connection for ever. `limited_protocol` makes a subclass of that protocol which closes such
connections. This is the one module that relies on uvicorn's internals (the protocol's hooks, its `conn`,
`connections`, `loop` and `transport`); tests/unit/test_limited_protocol.py pins them, so that an upgrade of
uvicorn that changes them fails a named test.
"""
from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from jobstore.adapters.errors import Unavailable
from jobstore.adapters.http.common import error_response

log = logging.getLogger("jobstore.http")
REFUSED_LINGER_SECONDS = 1.0  # a refused client's request is read and dropped meanwhile, so it gets the 503
WARN_EVERY_SECONDS = 60.0


def limited_protocol(request_seconds: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing a connection that has not sent a complete request within `request_seconds`
    of its opening or of the previous answer (uvicorn's keep-alive timeout closes an idle one sooner), and
    answering the connections beyond `max_connections` with UNAVAILABLE."""

    class Limited(LimitedH11Protocol):
        pass

    Limited.request_seconds, Limited.max_connections = request_seconds, max_connections
    return Limited


class LimitedH11Protocol(H11Protocol):
    request_seconds: ClassVar[float]
    max_connections: ClassVar[int]
    last_refusal_logged: ClassVar[float] = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        if len(self.connections) > self.max_connections:
            self._refuse()
        else:
            self._watch()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()
        self._watch()  # the next request's deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """A request under way must be complete before the deadline; a complete one has no deadline."""
        if self.transport.is_closing() or self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()
        elif self._deadline is None:
            self._deadline = self.loop.call_later(self.request_seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self.transport.close()

    def _refuse(self) -> None:
        error = Unavailable(f"this server has {self.max_connections} connections open, its limit; try again later")
        answer = error_response(error)
        head = (f"HTTP/1.1 {answer.status_code} {HTTPStatus(answer.status_code).phrase}\r\n"
                "content-type: application/json\r\n"
                f"content-length: {len(answer.body)}\r\nconnection: close\r\nretry-after: 1\r\n\r\n")
        self._refused = True
        self.transport.write(head.encode() + answer.body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._deadline = self.loop.call_later(REFUSED_LINGER_SECONDS, self._expire)
        now = time.monotonic()
        if now - LimitedH11Protocol.last_refusal_logged >= WARN_EVERY_SECONDS:
            LimitedH11Protocol.last_refusal_logged = now
            log.warning("refusing connections: %d are open, the limit (JOBSTORE_HTTP_MAX_CONNECTIONS)",
                        self.max_connections)
