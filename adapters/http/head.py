"""HEAD on every GET route: FastAPI's routes list GET alone, so without this HEAD would be METHOD_NOT_ALLOWED."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAsGet:
    """Routes a HEAD request as the GET it asks about, then gives it back its method as the answer starts: the
    server sends the answer's status and headers, Content-Length included, and leaves the body out, as it does
    for any answer to HEAD. /openapi.json keeps listing GET alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_as_head(message: Message) -> None:
            scope["method"] = "HEAD"
            await send(message)

        scope["method"] = "GET"
        scope.setdefault("state", {})["head"] = True  # for a route whose GET never ends (a watch)
        try:
            await self.app(scope, receive, send_as_head)
        finally:
            scope["method"] = "HEAD"
