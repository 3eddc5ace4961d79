"""Audit routes (auditor and admin keys): a job's history with its hash chain, and the global feed."""

from typing import Annotated

from fastapi import APIRouter, Query, Request

from adapters.audit import MAX_FEED
from adapters.http.common import (
    ERROR_RESPONSES,
    MAX_POSITION,
    Auditor,
    JSONResponse,
    checked_job_id,
    services_of,
)

router = APIRouter(tags=["Audit"], responses=ERROR_RESPONSES)


@router.get("/v1/jobs/{jobId}/events", summary="A job's events, oldest first, with the hash chain")
def job_history(jobId: str, request: Request, principal: Auditor) -> JSONResponse:
    events = services_of(request).audit.history(checked_job_id(jobId))
    return JSONResponse({"events": [e.wire() for e in events]})


@router.get("/v1/events", summary="Events of every job in commit order")
def global_feed(request: Request, principal: Auditor,
                after: Annotated[int, Query(alias="afterPosition", ge=0, le=MAX_POSITION - 1,
                                            description="start after this position")] = 0,
                limit: Annotated[int, Query(description=f"at most {MAX_FEED}")] = 100) -> JSONResponse:
    events, next_position = services_of(request).audit.feed(after, limit)
    return JSONResponse({"events": [e.wire() for e in events], "nextPosition": next_position})
