"""JobManager (writes) and JobReader (reads, served from the views) routes of the contract: each parses the
request, calls the core, and renders its answer."""

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.queries import AS_IT_WAS, MAX_POSITION, JobPage
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    JOB_SCHEMA,
    MIN_POSITION_HELP,
    POSITION_HEADER,
    SELECTIONS,
    JSONResponse,
    QueryModel,
    caller,
    core_of,
    documented,
    encoded_read_response,
    idempotency_key,
    parse_query,
    permitted,
    raw_body,
    read_response,
    selected_filters,
    success,
    written_response,
)
from jobstore.domain.requests import FailJobRequest, FinalizeCancellationRequest, UpsertJobRequest

router = APIRouter(responses=ERROR_RESPONSES)
REQUEST_MODELS: tuple[type[BaseModel], ...] = (UpsertJobRequest, FailJobRequest, FinalizeCancellationRequest)


def _body_schema(name: str, required: bool = True) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


def with_position(answer: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    answer[200]["headers"] = {POSITION_HEADER: {
        "description": "where the write's event stands in the log, for minPosition (absent when nothing changed)",
        "schema": {"type": "string"}}}
    return answer


def read_at_position(answer: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    answer[200]["headers"] = {POSITION_HEADER: {
        "description": "the log position the view stood at when read: the answer holds exactly the events up to "
                       "it (watch from it to miss nothing and repeat nothing); also on a NOT_FOUND or "
                       "FAILED_PRECONDITION answer", "schema": {"type": "string"}}}
    return answer


WRITTEN = with_position(success("The job after the write, as JOB_VIEW_BASIC shows it", job=(JOB_SCHEMA, True)))


# --- JobManager


@router.post("/v1/jobs:upsert", tags=["JobManager"], summary="UpsertJob",
             openapi_extra=_body_schema("UpsertJobRequest"), responses=WRITTEN)
async def upsert_job(request: Request) -> Response:
    principal = await permitted(request, Permission.WRITE)
    written = await core_of(request).commands.upsert(caller(request, principal), await raw_body(request),
                                                     idempotency_key(request))
    return written_response(written)


@router.post("/v1/jobs/{jobId}:fail", tags=["JobManager"], summary="FailJob",
             openapi_extra=_body_schema("FailJobRequest"), responses=WRITTEN)
async def fail_job(jobId: str, request: Request) -> Response:
    principal = await permitted(request, Permission.WRITE)
    written = await core_of(request).commands.fail(caller(request, principal), jobId, await raw_body(request),
                                                   idempotency_key(request))
    return written_response(written)


@router.post("/v1/jobs/{jobId}:finalizeCancellation", tags=["JobManager"], summary="FinalizeCancellation",
             openapi_extra=_body_schema("FinalizeCancellationRequest", required=False), responses=WRITTEN)
async def finalize_cancellation(jobId: str, request: Request) -> Response:
    principal = await permitted(request, Permission.WRITE)
    written = await core_of(request).commands.finalize_cancellation(
        caller(request, principal), jobId, await raw_body(request), idempotency_key(request))
    return written_response(written)


@router.post("/v1/jobs/cancel/{jobId}", tags=["JobReader"], summary="CancelJob (RequestCancellation)",
             responses=with_position(success("The cancellation is requested (an empty object)")))
async def cancel_job(jobId: str, request: Request) -> Response:
    principal = await permitted(request, Permission.WRITE)
    written = await core_of(request).commands.request_cancellation(
        caller(request, principal), jobId, await raw_body(request), idempotency_key(request))
    return written_response(written)


# --- JobReader


class ReadQuery(QueryModel):
    min_position: int | None = Field(None, alias="minPosition", le=MAX_POSITION, description=MIN_POSITION_HELP)


class GetJobQuery(ReadQuery):
    view: str | None = Field(None, description="JOB_VIEW_BASIC (default) or JOB_VIEW_FULL")
    as_of: str | None = Field(None, alias="asOf", description="auditors: the job as it was at this RFC 3339 time, "
                                                               "rebuilt from the log")
    version: int | None = Field(None, le=MAX_POSITION, description="auditors: the job after its first N events")


class ListQuery(ReadQuery):
    view: str | None = Field(None, description="JOB_VIEW_BASIC (default) or JOB_VIEW_FULL")
    page_token: str | None = Field(None, alias="pageToken")
    page_size: int | None = Field(None, alias="pageSize", description="default 20, at most 500")


class ListAllQuery(ListQuery):
    agent: str | None = Field(None, alias="agentId.uuid", description="only the jobs of this agent")


PAGE = read_at_position(success("A page of jobs, newest first",
                                jobs=({"type": "array", "items": JOB_SCHEMA}, True),
                                hasMore=({"type": "boolean"}, True),
                                nextPageToken=({"type": "string", "description": "for the next page; only when "
                                                                                  "hasMore"}, False)))


def _page(page: JobPage) -> JSONResponse:
    answer: dict[str, Any] = {"jobs": page.jobs, "hasMore": page.has_more}
    if page.next_page_token is not None:
        answer["nextPageToken"] = page.next_page_token
    return read_response(answer, page.position)


# Before the job routes: /v1/jobs/project/{projectId} lists a project, whatever its id (`events`, `project-id`,
# `test-run-id`); the job id `project` is reserved so that no job's own routes are hidden by it.
@router.get("/v1/jobs/project/{projectId}", tags=["JobReader"], summary="ListJobsForProject", responses=PAGE,
            openapi_extra=documented(ListQuery, *SELECTIONS))
async def list_jobs_for_project(projectId: str, request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, ListQuery)
    return _page(await core_of(request).queries.list_jobs(
        principal, project=projectId, view=query.view, selected=selected_filters(request), page_token=query.page_token,
        size=query.page_size, min_position=query.min_position))


@router.get("/v1/jobs/{jobId}", tags=["JobReader"], summary="GetJob (and, for auditors, the job as it was)",
            openapi_extra=documented(GetJobQuery),
            responses=read_at_position(success("The job", job=(JOB_SCHEMA, True))))
async def get_job(jobId: str, request: Request) -> Response:
    if "asOf" in request.query_params or "version" in request.query_params:
        principal = await permitted(request, Permission.AUDIT, AS_IT_WAS)
    else:
        principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, GetJobQuery)
    core = core_of(request)
    read = await core.queries.get_job(principal, jobId, query.view, query.min_position, query.as_of, query.version)
    body = core.answers.answer("json", read.answer_key, lambda: orjson.dumps({"job": read.job}))
    return encoded_read_response(body, read.position)


@router.get("/v1/jobs/{jobId}/project-id", tags=["JobReader"], summary="GetProjectID",
            openapi_extra=documented(ReadQuery),
            responses=read_at_position(success("The job's project",
                                               projectId=({"$ref": "#/components/schemas/RimeUUID"}, True))))
async def get_project_id(jobId: str, request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, ReadQuery)
    project, position = await core_of(request).queries.project_id(principal, jobId, query.min_position)
    return read_response({"projectId": {"uuid": project}}, position)


@router.get("/v1/jobs/{jobId}/test-run-id", tags=["JobReader"], summary="GetTestRunID",
            openapi_extra=documented(ReadQuery),
            responses=read_at_position(success("The succeeded stress test's run",
                                               testRunId=({"type": "string"}, True))))
async def get_test_run_id(jobId: str, request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, ReadQuery)
    test_run_id, position = await core_of(request).queries.test_run_id(principal, jobId, query.min_position)
    return read_response({"testRunId": test_run_id}, position)


@router.get("/v1/jobs", tags=["JobReader"], summary="ListJobs", responses=PAGE,
            openapi_extra=documented(ListAllQuery, *SELECTIONS))
async def list_all_jobs(request: Request) -> JSONResponse:
    principal = await permitted(request, Permission.READ)
    query = parse_query(request.query_params, ListAllQuery)
    return _page(await core_of(request).queries.list_jobs(
        principal, agent=query.agent, view=query.view, selected=selected_filters(request), page_token=query.page_token,
        size=query.page_size, min_position=query.min_position))
