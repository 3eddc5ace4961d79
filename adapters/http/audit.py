"""Audit routes (auditor and admin keys): a job's history with its hash chain, and the global feed."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from jobstore.adapters.audit import MAX_FEED
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    MAX_POSITION,
    Auditor,
    JSONResponse,
    checked_job_id,
    services_of,
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
                   "requestId": {"type": "string"},
                   "data": {"type": "object", "description": "the part of the job the event changed"},
                   "hash": {"type": "string"}, "prevHash": {"type": "string"}}}}, True)


@router.get("/v1/jobs/{jobId}/events", summary="A job's events, oldest first, with the hash chain",
            responses=success("The job's events", events=EVENTS))
def job_history(jobId: str, request: Request, principal: Auditor) -> JSONResponse:
    events = services_of(request).audit.history(checked_job_id(jobId))
    return JSONResponse({"events": [e.wire() for e in events]})


@router.get("/v1/events", summary="Events of every job in commit order",
            responses=success("A page of the log", events=EVENTS,
                              nextPosition=({"type": "integer", "description": "afterPosition for the next page"},
                                            True)))
def global_feed(request: Request, principal: Auditor,
                after: Annotated[int, Query(alias="afterPosition", ge=0, le=MAX_POSITION - 1,
                                            description="start after this position")] = 0,
                limit: Annotated[int, Query(description=f"at most {MAX_FEED}")] = 100) -> JSONResponse:
    events, next_position = services_of(request).audit.feed(after, limit)
    return JSONResponse({"events": [e.wire() for e in events], "nextPosition": next_position})
