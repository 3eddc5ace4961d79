"""Audit routes (auditor and admin keys): a job's history with its hash chain, and the global feed."""

from fastapi import APIRouter, Request
from pydantic import Field

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.queries import MAX_FEED, MAX_POSITION
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    JSONResponse,
    QueryModel,
    core_of,
    documented,
    parse_query,
    permitted,
    success,
)
from jobstore.adapters.storage.codec import EVENT_CLASSES

router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)
EVENTS = ({"type": "array", "items": {
    "type": "object", "description": "An event as auditors see it, with its link in the hash chain",
    "required": ["position", "jobId", "version", "type", "recordedAt", "actor", "requestId", "data", "hash",
                 "prevHash"],
    "properties": {"position": {"type": "integer"}, "jobId": {"type": "string"}, "version": {"type": "integer"},
                   "type": {"type": "string", "enum": sorted(EVENT_CLASSES)},
                   "recordedAt": {"type": "string", "format": "date-time"},
                   "actor": {"type": "object", "required": ["name", "role"],
                             "properties": {"name": {"type": "string"}, "role": {"type": "string"}}},
                   "requestId": {"type": "string", "description": "the X-Request-Id the client sent, or, when it "
                                 "sent none, serverRequestId"},
                   "serverRequestId": {"type": "string", "description": "the id the server gave the request, "
                                       "unique per request (absent on events recorded before servers chose one)"},
                   "data": {"type": "object", "description": "the part of the job the event changed"},
                   "hash": {"type": "string"}, "prevHash": {"type": "string"}}}}, True)


class FeedQuery(QueryModel):
    after: int = Field(0, alias="afterPosition", ge=0, le=MAX_POSITION - 1, description="start after this position")
    limit: int = Field(100, description=f"at most {MAX_FEED}")


class HistoryQuery(QueryModel):
    after: int = Field(0, alias="afterVersion", ge=0, le=MAX_POSITION, description="start after this version")


@router.get("/v1/jobs/{jobId}/events", summary="A job's events, oldest first, with the hash chain",
            openapi_extra=documented(HistoryQuery),
            responses=success("The job's events, as many as 4 MiB of JSON holds (at least one)", events=EVENTS,
                              nextVersion=({"type": "integer", "description": "afterVersion for the rest; only "
                                                                              "when the answer was cut"}, False)))
async def job_history(jobId: str, request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.AUDIT)
    query = parse_query(request.query_params, HistoryQuery)
    page = await core_of(request).queries.history(principal, jobId, query.after)
    answer: dict[str, object] = {"events": page.events}
    if page.more:
        answer["nextVersion"] = page.next
    return JSONResponse(answer)


@router.get("/v1/events", summary="Events of every job in commit order", openapi_extra=documented(FeedQuery),
            responses=success("A page of the log: at most `limit` events, as many as 4 MiB of JSON holds (at "
                              "least one)", events=EVENTS,
                              nextPosition=({"type": "integer", "description": "afterPosition for the next page"},
                                            True)))
async def global_feed(request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.AUDIT)
    query = parse_query(request.query_params, FeedQuery)
    page = await core_of(request).queries.feed(principal, query.after, query.limit)
    return JSONResponse({"events": page.events, "nextPosition": page.next})
