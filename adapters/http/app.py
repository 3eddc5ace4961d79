"""The HTTP API: JobManager writes, JobReader reads, googlerpc Status errors, API keys by role."""

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from anyio import to_thread
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.errors import (
    STATUS,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unimplemented,
    message_of,
    status_of,
)
from adapters.http import paging
from adapters.keys import Permission, Principal
from adapters.runtime import Services
from adapters.storage.views import JobFilter, PageKey
from domain.application import Outcome
from domain.enums import JobStatus, JobType, JobView, TerminationReason
from domain.errors import FailedPrecondition, InvalidArgument, JobNotFound
from domain.job import Provenance
from domain.values import JobMetadata, Text, WriteMask, job_id_problem
from projections.render import present, project_id
from projections.rows import ViewRow

log = logging.getLogger("jobstore.http")

MAX_BODY_BYTES = 1024 * 1024
API_KEY_HEADER = "rime-api-key"
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class UpsertJobRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    job: JobMetadata
    write_mask: WriteMask | None = None


class FailJobRequest(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    termination_reason: TerminationReason | None = None
    error_msg: Text | None = None


class EmptyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _field_path(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def _describe(error: ValidationError | RequestValidationError) -> InvalidArgument:
    first = error.errors()[0]
    problem = first.get("msg", "is invalid")
    if first.get("type") == "extra_forbidden":
        problem = "is not a field of this request"
    elif first.get("type") == "missing":
        problem = "is required"
    return InvalidArgument(_field_path(tuple(first.get("loc", ()))) or "body", problem)


def error_response(error: Exception, request_id: str | None = None) -> JSONResponse:
    code, http_status = status_of(error)
    message = message_of(error)
    if http_status == 500:
        message = f"internal error (request id {request_id}); the server log has the details"
    headers = {"X-Request-Id": request_id} if request_id else None
    return JSONResponse({"code": code, "message": message, "details": []}, status_code=http_status,
                        headers=headers)


def create_app(services: Services, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    app = FastAPI(title="jobstore", version="1.0.0",
                  description="Event-sourced job state store: JobManager writes and JobReader reads.")
    app.state.services = services

    # --- plumbing: request ids, errors, auth, bodies

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Any]) -> Any:
        rid = request.headers.get("x-request-id", "")[:128] or uuid.uuid4().hex
        request.state.request_id = rid
        try:
            response = await call_next(request)
        except Exception as error:
            log.exception("request %s %s failed (request id %s)", request.method, request.url.path, rid)
            return error_response(error, rid)
        response.headers["X-Request-Id"] = rid
        return response

    async def known_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(error, getattr(request.state, "request_id", None))

    for error_class, _code, _status in STATUS:
        app.add_exception_handler(error_class, known_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(_describe(error), getattr(request.state, "request_id", None))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        rid = getattr(request.state, "request_id", None)
        if error.status_code == 405:
            return error_response(Unimplemented(f"{request.method} is not supported on {request.url.path}"), rid)
        return error_response(NotFound(f"no route {request.method} {request.url.path}; see /openapi.json"), rid)

    def authorized(permission: Permission) -> Callable[..., Any]:
        def check(request: Request) -> Principal:
            key = request.headers.get(API_KEY_HEADER)
            if not key:
                raise Unauthenticated(f"send an API key in the {API_KEY_HEADER} header")
            principal = services.keys.authenticate(key)
            if principal is None:
                raise Unauthenticated("the API key is unknown or revoked")
            if not principal.may(permission):
                raise PermissionDenied(f"the API key {principal.name!r} has role {principal.role.value}, "
                                       f"which may not {permission.value}")
            return principal
        return check

    Reader = Annotated[Principal, Depends(authorized(Permission.READ))]
    Writer = Annotated[Principal, Depends(authorized(Permission.WRITE))]

    async def body(request: Request, model: type[M], empty_ok: bool = False) -> M:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise ResourceExhausted(f"request body is {declared} bytes; the limit is {MAX_BODY_BYTES}")
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise ResourceExhausted(f"request body is {len(raw)} bytes; the limit is {MAX_BODY_BYTES}")
        if not raw.strip() and empty_ok:
            return model.model_validate({})
        try:
            data = json.loads(raw)
        except RecursionError:
            raise InvalidArgument("body", "JSON is nested too deeply") from None
        except ValueError as e:
            raise InvalidArgument("body", f"is not valid JSON ({e})") from None
        if not isinstance(data, dict):
            raise InvalidArgument("body", "must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as e:
            raise _describe(e) from None
        except RecursionError:
            raise InvalidArgument("body", "JSON is nested too deeply") from None

    def provenance(request: Request, principal: Principal) -> Provenance:
        return Provenance(actor=principal.name, role=principal.role.value, request_id=request.state.request_id)

    async def run(fn: Callable[..., T], *args: Any) -> T:
        return await to_thread.run_sync(fn, *args)

    def written(outcome: Outcome, content: dict[str, Any] | None = None) -> JSONResponse:
        """A write's response: by default the job as BASIC shows it, and where its event stands in the log."""
        services.note_written(outcome.position)
        headers = {"X-Jobstore-Position": str(outcome.position)} if outcome.position is not None else None
        if content is None:
            content = {"job": present(outcome.document, JobView.BASIC, now())}
        return JSONResponse(content, headers=headers)

    def parse_view(view: str | None) -> JobView:
        if view is None or view == "":
            return JobView.BASIC
        try:
            return JobView(view)
        except ValueError:
            raise InvalidArgument("view", f"{view!r} is not one of {', '.join(v.value for v in JobView)}") from None

    def checked_job_id(job_id: str) -> str:
        problem = job_id_problem(job_id)
        if problem:
            raise InvalidArgument("jobId", problem)
        return job_id

    def read_row(job_id: str, view: JobView) -> ViewRow:
        services.catch_up_with_own_writes()
        row = services.views.get(view, checked_job_id(job_id))
        if row is None:
            raise JobNotFound(job_id)
        return row

    # --- JobManager (writes)

    @app.post("/v1/jobs:upsert", tags=["JobManager"], summary="UpsertJob",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/UpsertJobRequest"}}}}})
    async def upsert_job(request: Request, principal: Writer) -> JSONResponse:
        command = await body(request, UpsertJobRequest)
        outcome = await run(services.jobs.upsert, command.job, command.write_mask or WriteMask(),
                            provenance(request, principal))
        return written(outcome)

    @app.post("/v1/jobs/{jobId}:fail", tags=["JobManager"], summary="FailJob",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/FailJobRequest"}}}}})
    async def fail_job(jobId: str, request: Request, principal: Writer) -> JSONResponse:
        command = await body(request, FailJobRequest)
        outcome = await run(services.jobs.fail, jobId, command.termination_reason, command.error_msg,
                            provenance(request, principal))
        return written(outcome)

    @app.post("/v1/jobs/{jobId}:finalizeCancellation", tags=["JobManager"], summary="FinalizeCancellation")
    async def finalize_cancellation(jobId: str, request: Request, principal: Writer) -> JSONResponse:
        await body(request, EmptyRequest, empty_ok=True)
        outcome = await run(services.jobs.finalize_cancellation, jobId, provenance(request, principal))
        return written(outcome)

    @app.post("/v1/jobs/cancel/{jobId}", tags=["JobReader"], summary="CancelJob (RequestCancellation)")
    async def cancel_job(jobId: str, request: Request, principal: Writer) -> JSONResponse:
        await body(request, EmptyRequest, empty_ok=True)
        outcome = await run(services.jobs.request_cancellation, jobId, provenance(request, principal))
        return written(outcome, content={})

    # --- JobReader (reads, from the views)

    @app.get("/v1/jobs/{jobId}", tags=["JobReader"], summary="GetJob")
    def get_job(jobId: str, principal: Reader,
                view: Annotated[str | None, Query(description="JOB_VIEW_BASIC (default) or JOB_VIEW_FULL")] = None
                ) -> JSONResponse:
        shown = parse_view(view)
        row = read_row(jobId, shown)
        return JSONResponse({"job": present(row.document, shown, now())})

    @app.get("/v1/jobs/{jobId}/project-id", tags=["JobReader"], summary="GetProjectID")
    def get_project_id(jobId: str, principal: Reader) -> JSONResponse:
        row = read_row(jobId, JobView.BASIC)
        project = project_id(row.document)
        if project is None:
            raise FailedPrecondition(f"job {jobId!r} ({row.job_type}) belongs to no project")
        return JSONResponse({"projectId": {"uuid": project}})

    @app.get("/v1/jobs/{jobId}/test-run-id", tags=["JobReader"], summary="GetTestRunID")
    def get_test_run_id(jobId: str, principal: Reader) -> JSONResponse:
        row = read_row(jobId, JobView.BASIC)
        if row.job_type != JobType.MODEL_STRESS_TEST.value or row.status != JobStatus.SUCCEEDED.value:
            raise FailedPrecondition(f"job {jobId!r} is a {row.job_type} in {row.status}; a test run id is given "
                                     "only for a JOB_TYPE_MODEL_STRESS_TEST job in JOB_STATUS_SUCCEEDED")
        test_run_id = row.document.get("jobData", {}).get("stress", {}).get("testRunId")
        if test_run_id is None:
            raise FailedPrecondition(f"job {jobId!r} succeeded but has no jobData.stress.testRunId")
        return JSONResponse({"testRunId": test_run_id})

    def list_jobs(base: JobFilter, view: str | None, statuses: list[str], types: list[str],
                  page_token: str | None, page_size: int | None) -> JSONResponse:
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
            asked = (base.project_id, base.agent_id)
            if (issued_for.project_id, issued_for.agent_id) != asked or \
                    (statuses and tuple(statuses) != issued_for.statuses) or \
                    (types and tuple(types) != issued_for.types):
                raise InvalidArgument("pageToken", "was issued for a different query; send the same query, or "
                                                   "start again from the first page without pageToken")
            wanted = issued_for
        services.catch_up_with_own_writes()
        rows = services.views.list(shown, wanted, after, size + 1)
        has_more = len(rows) > size
        rows = rows[:size]
        moment = now()
        result: dict[str, Any] = {"jobs": [present(r.document, shown, moment) for r in rows], "hasMore": has_more}
        if has_more:
            result["nextPageToken"] = paging.encode(services.page_secret, wanted,
                                                    PageKey(rows[-1].creation_time, rows[-1].job_id))
        return JSONResponse(result)

    Statuses = Annotated[list[str], Query(alias="firstPageQuery.selectedStatuses",
                                          description="repeated JobStatus names; empty means all")]
    Types = Annotated[list[str], Query(alias="firstPageQuery.selectedTypes",
                                       description="repeated JobType names; empty means all")]
    PageToken = Annotated[str | None, Query(alias="pageToken")]
    PageSize = Annotated[int | None, Query(alias="pageSize", description="default 20, at most 500")]

    @app.get("/v1/jobs/project/{projectId}", tags=["JobReader"], summary="ListJobsForProject")
    def list_jobs_for_project(projectId: str, principal: Reader, statuses: Statuses = [],  # noqa: B006
                              types: Types = [], page_token: PageToken = None,  # noqa: B006
                              page_size: PageSize = None, view: str | None = None) -> JSONResponse:
        return list_jobs(JobFilter(project_id=projectId), view, statuses, types, page_token, page_size)

    @app.get("/v1/jobs", tags=["JobReader"], summary="ListJobs")
    def list_all_jobs(principal: Reader, statuses: Statuses = [], types: Types = [],  # noqa: B006
                      page_token: PageToken = None, page_size: PageSize = None, view: str | None = None,
                      agent: Annotated[str | None, Query(alias="agentId.uuid")] = None) -> JSONResponse:
        return list_jobs(JobFilter(agent_id=agent), view, statuses, types, page_token, page_size)

    @app.get("/healthz", tags=["Operations"], summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    _add_request_schemas(app)
    return app


def _add_request_schemas(app: FastAPI) -> None:
    """Publish the hand-parsed request bodies in /openapi.json."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (UpsertJobRequest, FailJobRequest):
            model_schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
