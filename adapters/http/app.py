"""The HTTP API: JobManager writes, JobReader reads, audit routes; googlerpc Status errors; API keys by role."""

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from jobstore.adapters.core.service import Core
from jobstore.adapters.errors import STATUS, Cancelled, NotFound, Unavailable, Unimplemented
from jobstore.adapters.http import audit, jobs, transparency, watch
from jobstore.adapters.http.common import (
    ERROR_RESPONSES,
    JSONResponse,
    describe,
    error_response,
    server_request_id_of,
)
from jobstore.adapters.http.head import HeadAsGet
from jobstore.adapters.http.middleware import RequestBookkeeping
from jobstore.adapters.observability import Metrics, WatchCollector, read_server_note, readiness
from jobstore.adapters.runtime import Services

log = logging.getLogger("jobstore.http")


def create_app(services: Services, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await app.state.core.queries.watches.close()
        for draining in app.state.draining:  # other servers over the same store (gRPC) finishing their calls
            await draining
        await services.backend.aclose()

    # FastAPIOffline: /docs and /redoc load their scripts, styles and icon from jobstore (the copies the package
    # ships, under /static-offline-docs), not from a CDN. redirect_slashes=False: a path with a trailing slash is
    # NOT_FOUND, where Starlette would redirect to a URL built from the client's Host header. validatorUrl None:
    # Swagger UI shows no badge fetched from validator.swagger.io.
    app = FastAPIOffline(title="jobstore", version="1.0.0", lifespan=lifespan, redirect_slashes=False,
                         swagger_ui_parameters={"validatorUrl": None},
                         description="Event-sourced job state store: JobManager writes, JobReader reads, audit "
                                     "history.")
    metrics = Metrics.create(services)
    app.state.metrics = metrics
    app.state.core = Core(services, now, metrics.observe_command)
    metrics.registry.register(WatchCollector(app.state.core.queries.watches))
    app.state.draining = []

    app.add_middleware(HeadAsGet)
    app.add_middleware(RequestBookkeeping, metrics=metrics)  # added last: the outer one, it sees every request

    async def known_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(error, server_request_id_of(request))

    for error_class, _code, _status in STATUS:
        app.add_exception_handler(error_class, known_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(describe(error), server_request_id_of(request))

    @app.exception_handler(ClientDisconnect)
    async def client_went_away(request: Request, _: ClientDisconnect) -> JSONResponse:
        rid = server_request_id_of(request)
        log.info("client went away before sending its whole request: %s %s (request id %s, the client's %s)",
                 request.method, request.url.path, rid, request.state.request_id)
        return error_response(Cancelled("the client closed the connection before sending its whole request"), rid)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        rid = server_request_id_of(request)
        if error.status_code == 405:
            response = error_response(Unimplemented(f"{request.method} is not supported on {request.url.path}"), rid)
            response.headers.update(error.headers or {})  # Allow: the methods that are
            return response
        return error_response(NotFound(f"no route {request.method} {request.url.path}; see /openapi.json"), rid)

    app.include_router(jobs.router)  # first: its ListJobsForProject route must win over /v1/jobs/{jobId}/events
    app.include_router(audit.router)
    app.include_router(transparency.router)
    app.include_router(watch.router)

    @app.get("/healthz", tags=["Operations"], summary="The process is alive", responses={405: ERROR_RESPONSES[405]})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["Operations"], summary="The database is reachable and the views keep up",
             responses={503: ERROR_RESPONSES[503], 405: ERROR_RESPONSES[405]})
    async def readyz() -> JSONResponse:
        problem = await to_thread.run_sync(readiness, services)
        if problem:
            return error_response(Unavailable(f"not ready: {problem}"))
        return JSONResponse({"status": "ready", "reads": read_server_note(services)})

    @app.get("/metrics", tags=["Operations"], summary="Prometheus metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
                        405: ERROR_RESPONSES[405]})
    async def prometheus_metrics() -> Response:
        body = await to_thread.run_sync(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    _publish_request_schemas(app)
    return app


def _publish_request_schemas(app: FastAPI) -> None:
    """Put the hand-parsed request bodies into /openapi.json."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["googlerpcStatus"] = {
            "type": "object", "required": ["code", "message", "details"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"},
                           "details": {"type": "array", "items": {"type": "object"}}}}
        for model in jobs.REQUEST_MODELS:
            model_schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
