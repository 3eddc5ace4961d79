"""Per-request bookkeeping as a plain ASGI middleware (cheaper than Starlette's BaseHTTPMiddleware, which runs
the route in a separate task and copies the response through a stream): the request ids, what is wrong with
the request before routing (answered by the route once the caller is authenticated and authorized, see
common.permitted), the answer to an unhandled error, and the metrics and access-log line of every request."""
from __future__ import annotations

import logging
import re
import time
from typing import Any
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobstore.adapters.core.commands import new_request_id, refused_request_id
from jobstore.adapters.http.common import error_response
from jobstore.adapters.observability import Metrics, log_request
from jobstore.domain.errors import InvalidArgument

log = logging.getLogger("jobstore.http")
REQUEST_ID_HEADER = b"x-request-id"
SERVER_REQUEST_ID_HEADER = b"x-jobstore-request-id"
ENCODED_SLASH = re.compile("%2f", re.IGNORECASE)


class RequestBookkeeping:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        server_request_id = new_request_id()
        sent = _header(scope, REQUEST_ID_HEADER)
        refusal = refused_request_id(sent, "X-Request-Id")
        request_id = sent if sent and refusal is None else server_request_id
        if _holds_encoded_slash(scope):
            _route_with_encoded_slashes(scope)
            refusal = refusal or InvalidArgument("jobId", "must not contain '/' (found %2F in the path)")
        state = scope.setdefault("state", {})
        state["request_id"], state["server_request_id"] = request_id, server_request_id
        if refusal is not None:
            state["refusal"] = refusal
        ids = [(REQUEST_ID_HEADER, request_id.encode()), (SERVER_REQUEST_ID_HEADER, server_request_id.encode())]
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message = {**message, "headers": [*message.get("headers", ()), *ids]}
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                self._account(scope, request_id, server_request_id, status, started)  # before the client reads
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            log.exception("request %s %s failed (request id %s, the client's %s)", scope["method"], scope["path"],
                          server_request_id, request_id)
            if response_started:
                raise
            await error_response(error, server_request_id)(scope, receive, send_with_request_id)

    def _account(self, scope: Scope, request_id: str, server_request_id: str, status: int, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        seconds = time.perf_counter() - started
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.request_seconds.labels(route).observe(seconds)
        log_request(request_id, server_request_id, scope["method"], route, status, seconds)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _holds_encoded_slash(scope: Scope) -> bool:
    raw_path: Any = scope.get("raw_path") or b""
    return b"%2f" in raw_path.lower()


def _route_with_encoded_slashes(scope: Scope) -> None:
    """Route a path with a job id holding a percent-encoded '/' with %2F kept as it is: the request reaches the
    route of the job it names, which refuses the id once the caller is known and allowed, rather than no route
    or another one (`/v1/jobs/a%2Fevents` is not the history of job `a`)."""
    raw_path = scope["raw_path"].decode("latin-1")
    scope["path"] = "%2F".join(unquote(part) for part in ENCODED_SLASH.split(raw_path))
