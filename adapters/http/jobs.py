"""JobManager (writes) and JobReader (reads, served from the views) routes of the contract."""

import contextlib
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from jobstore.adapters.errors import DeadlineExceeded, PermissionDenied
from jobstore.adapters.http import paging
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    JOB_SCHEMA,
    MAX_POSITION,
    JSONResponse,
    Reader,
    Writer,
    checked_job_id,
    idempotent,
    now_of,
    parse_body,
    provenance,
    run,
    services_of,
    success,
)
from jobstore.adapters.http.query import QueryModel, documented, parse_query
from jobstore.adapters.keys import Permission, Principal
from jobstore.adapters.storage.views import JobFilter, PageKey
from jobstore.domain.application import Outcome
from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobStatus, JobType, JobView
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobNotFound, OutOfRange
from jobstore.domain.requests import FailJobRequest, UpsertJobRequest
from jobstore.domain.values import parse_job_id
from jobstore.projections.render import present, project_id
from jobstore.projections.rows import ViewRow

router = APIRouter(responses=ERROR_RESPONSES)


class EmptyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")


def parse_rfc3339(field: str, text: str) -> datetime:
    """An RFC 3339 time with a zone, as UTC; anything else is INVALID_ARGUMENT naming `field`."""
    if RFC3339.match(text):
        with contextlib.suppress(ValueError):
            fraction = re.search(r"\.(\d+)", text)
            if fraction and len(fraction.group(1)) > 6:  # Python keeps microseconds: drop the rest
                text = text.replace(fraction.group(0), fraction.group(0)[:7])
            return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00")).astimezone(UTC)
    raise InvalidArgument(field, f"{text!r} is not an RFC 3339 time with a zone, e.g. 2026-11-27T18:10:05Z")


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


async def command(request: Request, name: str, fn: Callable[..., Outcome], *args: Any) -> Outcome:
    """Run a JobManager command off the event loop, timing it for /metrics."""
    metrics = request.app.state.metrics
    started = time.perf_counter()
    try:
        outcome = await run(fn, *args)
    finally:
        metrics.command_seconds.labels(name).observe(time.perf_counter() - started)
    if outcome.position is not None:
        metrics.events_appended.inc()
    return outcome


def written(request: Request, outcome: Outcome, content: dict[str, Any] | None = None) -> JSONResponse:
    """A write's response: by default the job as BASIC shows it, and where its event stands in the log."""
    services_of(request).note_written(outcome.position)
    headers = {"X-Jobstore-Position": str(outcome.position)} if outcome.position is not None else None
    if content is None:
        content = {"job": present(outcome.document, JobView.BASIC, now_of(request))}
    return JSONResponse(content, headers=headers)


def parse_view(view: str | None) -> JobView:
    if view is None or view == "":
        return JobView.BASIC
    try:
        return JobView(view)
    except ValueError:
        raise InvalidArgument("view", f"{view!r} is not one of {', '.join(v.value for v in JobView)}") from None


MIN_POSITION_HELP = ("read-your-writes: wait (at most 5 s, then DEADLINE_EXCEEDED) until the views hold the log up "
                     "to this position, e.g. a write's X-Jobstore-Position")
MinPosition = Annotated[int | None, Query(alias="minPosition", le=MAX_POSITION, description=MIN_POSITION_HELP)]
MIN_POSITION_WAIT_SECONDS = 5.0


def wait_for_views(request: Request, min_position: int | None) -> None:
    services = services_of(request)
    if min_position is None:
        services.catch_up_with_own_writes()
        return
    if min_position < 0:
        raise InvalidArgument("minPosition", f"must not be negative (got {min_position})")
    if not services.engine.reached(min_position) and min_position > services.engine.log.head():
        raise OutOfRange(f"minPosition {min_position} is beyond the newest event in the log; use the "
                         "X-Jobstore-Position of a write")
    if not services.engine.wait_for(min_position, MIN_POSITION_WAIT_SECONDS):
        raise DeadlineExceeded(f"the views did not reach position {min_position} within "
                               f"{MIN_POSITION_WAIT_SECONDS:.0f} s; retry, or check `jobstore status`")


def read_row(request: Request, job_id: str, view: JobView, min_position: int | None = None) -> ViewRow:
    services = services_of(request)
    checked_job_id(job_id)
    wait_for_views(request, min_position)
    row = services.views.get(view, job_id)
    if row is None:
        raise JobNotFound(job_id)
    return row


# --- JobManager


def with_position(answer: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    answer[200]["headers"] = {"X-Jobstore-Position": {
        "description": "where the write's event stands in the log, for minPosition (absent when nothing changed)",
        "schema": {"type": "string"}}}
    return answer


WRITTEN = with_position(success("The job after the write, as JOB_VIEW_BASIC shows it", job=(JOB_SCHEMA, True)))


@router.post("/v1/jobs:upsert", tags=["JobManager"], summary="UpsertJob",
             openapi_extra=_body_schema("UpsertJobRequest"), responses=WRITTEN)
async def upsert_job(request: Request, principal: Writer) -> Response:
    async def perform() -> Response:
        body = await parse_body(request, UpsertJobRequest)
        outcome = await command(request, "UpsertJob", services_of(request).jobs.upsert, body,
                                provenance(request, principal))
        return written(request, outcome)
    return await idempotent(request, principal, perform)


@router.post("/v1/jobs/{jobId}:fail", tags=["JobManager"], summary="FailJob",
             openapi_extra=_body_schema("FailJobRequest"), responses=WRITTEN)
async def fail_job(jobId: str, request: Request, principal: Writer) -> Response:
    async def perform() -> Response:
        job_id = parse_job_id(jobId)
        body = await parse_body(request, FailJobRequest)
        outcome = await command(request, "FailJob", services_of(request).jobs.fail, job_id, body,
                                provenance(request, principal))
        return written(request, outcome)
    return await idempotent(request, principal, perform)


async def bodiless_command(request: Request, principal: Principal, name: str, fn: Callable[..., Outcome],
                           job_id: str, content: dict[str, Any] | None = None) -> Response:
    """A command whose request has no body (an empty JSON object is accepted too)."""
    async def perform() -> Response:
        checked = parse_job_id(job_id)
        await parse_body(request, EmptyRequest, empty_ok=True)
        outcome = await command(request, name, fn, checked, provenance(request, principal))
        return written(request, outcome, content)
    return await idempotent(request, principal, perform)


@router.post("/v1/jobs/{jobId}:finalizeCancellation", tags=["JobManager"], summary="FinalizeCancellation",
             responses=WRITTEN)
async def finalize_cancellation(jobId: str, request: Request, principal: Writer) -> Response:
    return await bodiless_command(request, principal, "FinalizeCancellation",
                                  services_of(request).jobs.finalize_cancellation, jobId)


@router.post("/v1/jobs/cancel/{jobId}", tags=["JobReader"], summary="CancelJob (RequestCancellation)",
             responses=with_position(success("The cancellation is requested (an empty object)")))
async def cancel_job(jobId: str, request: Request, principal: Writer) -> Response:
    return await bodiless_command(request, principal, "RequestCancellation",
                                  services_of(request).jobs.request_cancellation, jobId, content={})


# --- JobReader

class GetJobQuery(QueryModel):
    view: str | None = Field(None, description="JOB_VIEW_BASIC (default) or JOB_VIEW_FULL")
    as_of: str | None = Field(None, alias="asOf", description="auditors: the job as it was at this RFC 3339 time, "
                                                               "rebuilt from the log")
    version: int | None = Field(None, le=MAX_POSITION, description="auditors: the job after its first N events")
    min_position: int | None = Field(None, alias="minPosition", le=MAX_POSITION, description=MIN_POSITION_HELP)


@router.get("/v1/jobs/{jobId}", tags=["JobReader"], summary="GetJob (and, for auditors, the job as it was)",
            openapi_extra=documented(GetJobQuery), responses=success("The job", job=(JOB_SCHEMA, True)))
async def get_job(jobId: str, request: Request, principal: Reader) -> JSONResponse:
    query = parse_query(request, GetJobQuery)
    view, as_of, version, min_position = query.view, query.as_of, query.version, query.min_position
    if as_of is None and version is None:
        shown = parse_view(view)
        checked_job_id(jobId)
        services = services_of(request)
        needs_wait = not services.own_writes_visible() if min_position is None else \
            min_position < 0 or not services.engine.known_reached(min_position)
        if needs_wait:
            await run(wait_for_views, request, min_position)
        found = await services.views.get_async(shown, jobId)
        if found is None:
            raise JobNotFound(jobId)
        return JSONResponse({"job": present(found.document, shown, now_of(request))})
    if not principal.may(Permission.AUDIT):
        raise PermissionDenied(f"the API key {principal.name!r} has role {principal.role.value}; only auditor and "
                               "admin keys may read a job as it was (asOf, version)")
    shown = parse_view(view)
    if as_of is not None and version is not None:
        raise InvalidArgument("asOf", "give asOf or version, not both")
    audit = services_of(request).audit
    checked_job_id(jobId)
    document: JobDocument
    moment: datetime
    if version is not None:
        document, moment = await run(audit.at_version, jobId, version)
    else:
        document, moment = await run(audit.as_of, jobId, parse_rfc3339("asOf", as_of or ""))
    return JSONResponse({"job": present(document, shown, moment)})


@router.get("/v1/jobs/{jobId}/project-id", tags=["JobReader"], summary="GetProjectID",
            responses=success("The job's project", projectId=({"$ref": "#/components/schemas/RimeUUID"}, True)))
def get_project_id(jobId: str, request: Request, principal: Reader, min_position: MinPosition = None) -> JSONResponse:
    row = read_row(request, jobId, JobView.BASIC, min_position)
    project = project_id(row.document)
    if project is None:
        raise FailedPrecondition(f"job {jobId!r} ({row.job_type}) belongs to no project")
    return JSONResponse({"projectId": {"uuid": project}})


@router.get("/v1/jobs/{jobId}/test-run-id", tags=["JobReader"], summary="GetTestRunID",
            responses=success("The succeeded stress test's run", testRunId=({"type": "string"}, True)))
def get_test_run_id(jobId: str, request: Request, principal: Reader,
                    min_position: MinPosition = None) -> JSONResponse:
    row = read_row(request, jobId, JobView.BASIC, min_position)
    if row.job_type != JobType.MODEL_STRESS_TEST.value or row.status != JobStatus.SUCCEEDED.value:
        raise FailedPrecondition(f"job {jobId!r} is a {row.job_type} in {row.status}; a test run id is given "
                                 "only for a JOB_TYPE_MODEL_STRESS_TEST job in JOB_STATUS_SUCCEEDED")
    test_run_id = row.document.get("jobData", {}).get("stress", {}).get("testRunId")
    if test_run_id is None:
        raise FailedPrecondition(f"job {jobId!r} succeeded but has no jobData.stress.testRunId")
    return JSONResponse({"testRunId": test_run_id})


PAGE = success("A page of jobs, newest first", jobs=({"type": "array", "items": JOB_SCHEMA}, True),
               hasMore=({"type": "boolean"}, True),
               nextPageToken=({"type": "string", "description": "for the next page; only when hasMore"}, False))
Statuses = Annotated[list[str], Query(alias="firstPageQuery.selectedStatuses",
                                      description="repeated JobStatus names; empty means all")]
Types = Annotated[list[str], Query(alias="firstPageQuery.selectedTypes",
                                   description="repeated JobType names; empty means all")]
PageToken = Annotated[str | None, Query(alias="pageToken")]
PageSize = Annotated[int | None, Query(alias="pageSize", description="default 20, at most 500")]


def list_jobs(request: Request, base: JobFilter, view: str | None, statuses: list[str], types: list[str],
              page_token: str | None, page_size: int | None, min_position: int | None) -> JSONResponse:
    services = services_of(request)
    shown = parse_view(view)
    size = paging.page_size(page_size)
    for field, values, enum in (("firstPageQuery.selectedStatuses", statuses, JobStatus),
                                ("firstPageQuery.selectedTypes", types, JobType)):
        for value in values:
            if value not in enum.__members__.values():
                raise InvalidArgument(field, f"{value!r} is not one of {', '.join(e.value for e in enum)}")
    wanted = JobFilter(project_id=base.project_id, agent_id=base.agent_id, statuses=tuple(statuses),
                       types=tuple(types))
    after: PageKey | None = None
    if page_token:
        issued_for, after = paging.decode(services.page_secret, page_token)
        if issued_for.project_id != base.project_id or \
                (base.agent_id is not None and base.agent_id != issued_for.agent_id) or \
                (statuses and tuple(statuses) != issued_for.statuses) or \
                (types and tuple(types) != issued_for.types):
            raise InvalidArgument("pageToken", "was issued for a different query; send the same query, or "
                                               "start again from the first page without pageToken")
        wanted = issued_for
    wait_for_views(request, min_position)
    rows = services.views.list(shown, wanted, after, size + 1)
    has_more = len(rows) > size
    rows = rows[:size]
    moment = now_of(request)
    result: dict[str, Any] = {"jobs": [present(r.document, shown, moment) for r in rows], "hasMore": has_more}
    if has_more:
        result["nextPageToken"] = paging.encode(services.page_secret, wanted,
                                                PageKey(rows[-1].creation_time, rows[-1].job_id))
    return JSONResponse(result)


@router.get("/v1/jobs/project/{projectId}", tags=["JobReader"], summary="ListJobsForProject", responses=PAGE)
def list_jobs_for_project(projectId: str, request: Request, principal: Reader, statuses: Statuses = [],  # noqa: B006
                          types: Types = [], page_token: PageToken = None,  # noqa: B006
                          page_size: PageSize = None, view: str | None = None,
                          min_position: MinPosition = None) -> JSONResponse:
    return list_jobs(request, JobFilter(project_id=projectId), view, statuses, types, page_token, page_size,
                     min_position)


@router.get("/v1/jobs", tags=["JobReader"], summary="ListJobs", responses=PAGE)
def list_all_jobs(request: Request, principal: Reader, statuses: Statuses = [], types: Types = [],  # noqa: B006
                  page_token: PageToken = None, page_size: PageSize = None, view: str | None = None,
                  agent: Annotated[str | None, Query(alias="agentId.uuid")] = None,
                  min_position: MinPosition = None) -> JSONResponse:
    return list_jobs(request, JobFilter(agent_id=agent), view, statuses, types, page_token, page_size,
                     min_position)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (UpsertJobRequest, FailJobRequest)
