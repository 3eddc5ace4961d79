"""GET /v1/jobs:watch: a watch (adapters/core/watch.py) as Server-Sent Events. Each change is an event whose `id`
is the position of the log event that made it and whose data holds the job in the view asked for; a job that
stops matching comes as `event: leave`; `event: bookmark` says how far the log was read (first where the watch
starts, then whenever it was quiet for a while, and last when the server stops). A client that reconnects with
`Last-Event-ID`, as a browser's EventSource does, resumes right after it."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import Field

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.commands import error_body
from jobstore.adapters.core.queries import MAX_POSITION
from jobstore.adapters.core.watch import BOOKMARK, LEAVE, Sent, Watcher
from jobstore.adapters.errors import ResourceExhausted
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    POSITION_HEADER,
    SELECTIONS,
    QueryModel,
    core_of,
    documented,
    parse_query,
    permitted,
    selected_filters,
)
from jobstore.domain.enums import JobView
from jobstore.domain.errors import InvalidArgument
from jobstore.projections.render import present

router = APIRouter(responses=ERROR_RESPONSES)
RETRY_MILLISECONDS = 1000  # how soon an EventSource reconnects after the stream ends


class WatchQuery(QueryModel):
    view: str | None = Field(None, description="JOB_VIEW_BASIC (default) or JOB_VIEW_FULL")
    job_id: str | None = Field(None, alias="jobId", description="only this job")
    project_id: str | None = Field(None, alias="projectId", description="only the jobs of this project")
    agent: str | None = Field(None, alias="agentId.uuid", description="only the jobs of this agent")
    after_position: int | None = Field(None, alias="afterPosition", le=MAX_POSITION,
                                       description="send the changes after this log position (a read's or a "
                                                   "write's X-Jobstore-Position); without it, from now")


STREAM: dict[int | str, dict[str, Any]] = {200: {
    "description": "Server-Sent Events: changes (`id:` their position, `data:` {\"job\", \"position\"}), "
                   "`event: leave`, `event: bookmark` ({\"position\"}), and `event: error` (a googlerpc Status) "
                   "when the watch is cut off",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/v1/jobs:watch", tags=["JobReader"], summary="WatchJobs: the changes of the jobs a list would choose",
            openapi_extra=documented(WatchQuery, *SELECTIONS), responses=STREAM)
async def watch_jobs(request: Request) -> Response:
    principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, WatchQuery)
    after = _last_event_id(request.headers.get("last-event-id"))
    if after is None:
        after = query.after_position
    core = core_of(request)
    watcher = await core.queries.watch(principal, job_id=query.job_id, project=query.project_id, agent=query.agent,
                                       view=query.view, selected=selected_filters(request), after=after)
    headers = {POSITION_HEADER: str(watcher.start), "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    if request.scope.get("state", {}).get("head"):  # HEAD: the headers a watch would start with, and no stream
        core.queries.watches.leave(watcher)
        return Response(media_type="text/event-stream", headers=headers)
    heartbeat = core.services.settings.watch_heartbeat_seconds
    return StreamingResponse(_events(watcher, heartbeat, core.queries.now), media_type="text/event-stream",
                             headers=headers)


def _last_event_id(sent: str | None) -> int | None:
    if sent is None or sent == "":
        return None
    if not sent.isascii() or not sent.isdigit() or int(sent) > MAX_POSITION:
        raise InvalidArgument("Last-Event-ID", f"must be a log position, the id of an event this route sent "
                                               f"(got {sent[:40]!r})")
    return int(sent)


async def _events(watcher: Watcher, heartbeat: float, now: Callable[[], datetime]) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n".encode()
        async for sent in watcher.sent(heartbeat):
            yield _event(sent, watcher.wanted.view, now)
    except ResourceExhausted as cut_off:
        yield b"event: error\ndata: " + orjson.dumps(error_body(cut_off)) + b"\n\n"
    finally:
        watcher.hub.leave(watcher)


def _event(sent: Sent, view: JobView, now: Callable[[], datetime]) -> bytes:
    head = f"id: {sent.position}\n"
    if sent.kind == BOOKMARK:
        return f"{head}event: bookmark\ndata: {{\"position\": {sent.position}}}\n\n".encode()
    assert sent.document is not None
    data = orjson.dumps({"job": present(sent.document, view, now()), "position": sent.position})
    kind = "event: leave\n" if sent.kind == LEAVE else ""
    return f"{head}{kind}data: ".encode() + data + b"\n\n"
