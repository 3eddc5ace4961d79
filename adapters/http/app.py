"""The HTTP API: JobManager writes, JobReader reads, audit routes; googlerpc Status errors; API keys by role."""

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters.errors import STATUS, NotFound, Unavailable, Unimplemented
from adapters.http import audit, jobs
from adapters.http.common import ERROR_RESPONSES, describe, error_response, request_id_of
from adapters.observability import Metrics, log_request, readiness
from adapters.runtime import Services
from domain.errors import InvalidArgument

log = logging.getLogger("jobstore.http")
MAX_REQUEST_ID = 256


def create_app(services: Services, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if services.views.async_reads is not None:
            await services.views.async_reads.close()

    app = FastAPI(title="jobstore", version="1.0.0", lifespan=lifespan,
                  description="Event-sourced job state store: JobManager writes, JobReader reads, audit history.")
    app.state.services = services
    app.state.now = now

    metrics = Metrics.create(services)
    app.state.metrics = metrics

    @app.middleware("http")
    async def request_id(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        if len(rid) > MAX_REQUEST_ID:
            rid = uuid.uuid4().hex
            response = error_response(InvalidArgument("X-Request-Id", f"must be at most {MAX_REQUEST_ID} characters"),
                                      rid)
        elif "%2f" in request.scope.get("raw_path", b"").decode("latin-1").lower():
            response = error_response(InvalidArgument("jobId", "must not contain '/' (found %2F in the path)"), rid)
        else:
            request.state.request_id = rid
            try:
                response = await call_next(request)
            except Exception as error:
                log.exception("request %s %s failed (request id %s)", request.method, request.url.path, rid)
                response = error_response(error, rid)
        response.headers["X-Request-Id"] = rid
        route = getattr(request.scope.get("route"), "path", "unmatched")
        seconds = time.perf_counter() - started
        metrics.requests.labels(route, str(response.status_code)).inc()
        metrics.request_seconds.labels(route).observe(seconds)
        log_request(rid, request.method, route, response.status_code, seconds)
        return response

    async def known_error(request: Request, error: Exception) -> JSONResponse:
        return error_response(error, request_id_of(request))

    for error_class, _code, _status in STATUS:
        app.add_exception_handler(error_class, known_error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(describe(error), request_id_of(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        rid = request_id_of(request)
        if error.status_code == 405:
            response = error_response(Unimplemented(f"{request.method} is not supported on {request.url.path}"), rid)
            response.headers.update(error.headers or {})  # Allow: the methods that are
            return response
        return error_response(NotFound(f"no route {request.method} {request.url.path}; see /openapi.json"), rid)

    app.include_router(audit.router)
    app.include_router(jobs.router)

    @app.get("/healthz", tags=["Operations"], summary="The process is alive", responses={405: ERROR_RESPONSES[405]})
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["Operations"], summary="The database is reachable and the views keep up",
             responses={503: ERROR_RESPONSES[503], 405: ERROR_RESPONSES[405]})
    async def readyz() -> JSONResponse:
        problem = await to_thread.run_sync(readiness, services)
        if problem:
            return error_response(Unavailable(f"not ready: {problem}"))
        return JSONResponse({"status": "ready"})

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
