"""What every route shares: the core, the caller, request bodies read within their limit, query parameters,
googlerpc error bodies, and the OpenAPI entries of answers."""

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from fastapi import Request, responses
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, ValidationError

from jobstore.adapters.core.access import Permission, Principal, authenticate, authorize
from jobstore.adapters.core.commands import IDEMPOTENCY_KEY, Caller, Written, error_body
from jobstore.adapters.core.service import Core
from jobstore.adapters.errors import ReplayedError, ResourceExhausted, position_of, status_of
from jobstore.domain.errors import InvalidArgument
from jobstore.domain.requests import invalid_argument
from jobstore.projections.columns import FILTERS

MAX_BODY_BYTES = 1024 * 1024
DRAIN_LIMIT = 16 * MAX_BODY_BYTES  # an oversized body up to this size is read and dropped before answering
API_KEY_HEADER = "rime-api-key"
POSITION_HEADER = "X-Jobstore-Position"
Q = TypeVar("Q", bound=BaseModel)

STATUS_SCHEMA = {"$ref": "#/components/schemas/googlerpcStatus"}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": {"application/json": {"schema": STATUS_SCHEMA}}}
    for status, description in ((400, "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE"),
                                (401, "UNAUTHENTICATED"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND"),
                                (405, "UNIMPLEMENTED: method not supported"),
                                (409, "ALREADY_EXISTS or ABORTED"), (429, "RESOURCE_EXHAUSTED"),
                                (500, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"))
}
JOB_SCHEMA = {"$ref": "#/components/schemas/JobMetadata",
              "description": "The job as the view shows it, with the output-only fields jobstore computes"}
MIN_POSITION_HELP = ("read-your-writes: wait (at most 5 s, then DEADLINE_EXCEEDED) until the views hold the log up "
                     "to this position, e.g. a write's X-Jobstore-Position")


class JSONResponse(responses.JSONResponse):
    """A JSON body written by orjson, about fifteen times faster than Starlette's `json.dumps` (a GetJob FULL
    body: 7.8 -> 0.4 us, a page of 20 FULL jobs about 150 -> 9 us). For jobstore's bodies (string keys, 64-bit
    integers, finite numbers) the bytes are the same but for how some numbers are spelled (1e-06 -> 1e-6)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def success(description: str, **fields: tuple[dict[str, Any], bool]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a route's 200 answer: a JSON object with `fields` (name: (schema, always there))."""
    schema = {"type": "object", "properties": {name: field for name, (field, _) in fields.items()},
              "required": [name for name, (_, always) in fields.items() if always]}
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}


def core_of(request: Request) -> Core:
    core: Core = request.app.state.core
    return core


def server_request_id_of(request: Request) -> str | None:
    return getattr(request.state, "server_request_id", None)


async def permitted(request: Request, permission: Permission, doing: str | None = None) -> Principal:
    """The caller, authenticated and allowed `permission` before anything of the request is read, so that the
    contract's order holds (role, then validity): only then is what the middleware found wrong with the request
    answered. The core checks the role again: it serves every transport. (A plain call, not a FastAPI
    dependency: resolving one cost a tenth of a GetJob.)"""
    principal = await authenticate(core_of(request).services.keys, request.headers.get(API_KEY_HEADER),
                                   API_KEY_HEADER)
    authorize(principal, permission, doing)
    refusal: Exception | None = getattr(request.state, "refusal", None)
    if refusal is not None:
        raise refusal
    return principal


def caller(request: Request, principal: Principal) -> Caller:
    return Caller(principal, request.state.request_id, request.state.server_request_id)


def idempotency_key(request: Request) -> str | None:
    return request.headers.get(IDEMPOTENCY_KEY)


def error_response(error: Exception, server_request_id: str | None = None) -> JSONResponse:
    """The error's googlerpc Status; an internal error says only which request the server log tells about."""
    body = error_body(error)
    _, http_status = status_of(error)
    if http_status == 500:
        body["message"] = f"internal error (request id {server_request_id}); the server log has the details"
    headers = {"Idempotent-Replayed": "true"} if isinstance(error, ReplayedError) else {}
    position = position_of(error)
    if position is not None:
        headers[POSITION_HEADER] = str(position)
    return JSONResponse(body, status_code=http_status, headers=headers)


def read_response(answer: dict[str, Any], position: int | None) -> JSONResponse:
    """A read's answer, and the position of the log the view it came from stood at (to watch from)."""
    return JSONResponse(answer, headers=_read_at(position))


def encoded_read_response(body: bytes, position: int | None) -> Response:
    """read_response for an answer already in JSON."""
    return Response(body, media_type=JSONResponse.media_type, headers=_read_at(position))


def _read_at(position: int | None) -> dict[str, str] | None:
    return None if position is None else {POSITION_HEADER: str(position)}


def written_response(written: Written) -> Response:
    """A write's answer, and where its event stands in the log (for minPosition)."""
    headers = {} if written.position is None else {POSITION_HEADER: str(written.position)}
    if written.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(written.answer, media_type="application/json", headers=headers)


def describe(error: ValidationError | RequestValidationError) -> InvalidArgument:
    """The first validation error as INVALID_ARGUMENT naming the field (dotted, camelCase)."""
    return invalid_argument(error.errors())


async def raw_body(request: Request) -> bytes:
    """The request body, at most MAX_BODY_BYTES; a larger one is RESOURCE_EXHAUSTED, read no further than needed."""
    declared = request.headers.get("content-length")
    too_large = ResourceExhausted(f"request body is over {MAX_BODY_BYTES} bytes, the limit")
    if declared and declared.isdigit() and int(declared) > DRAIN_LIMIT:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
        elif size > DRAIN_LIMIT:
            raise too_large
    if size > MAX_BODY_BYTES:
        raise too_large  # read to the end (below DRAIN_LIMIT) so that the client sees this answer
    return b"".join(chunks)


class QueryModel(BaseModel):
    """A route's query parameters, read through one pydantic model instead of one FastAPI parameter each: on the
    hottest read (GetJob) FastAPI's per-parameter machinery cost about a third of the request. Unknown
    parameters are ignored, as they are on every route."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def parse_query(params: Mapping[str, str], model: type[Q]) -> Q:
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise describe(error) from None


def documented(model: type[QueryModel], *extra: dict[str, Any]) -> dict[str, Any]:
    """The `parameters` of an operation in /openapi.json, from the model (for a route's openapi_extra)."""
    schema = model.model_json_schema(by_alias=True)
    parameters = []
    for name, field_schema in schema["properties"].items():
        field_schema = {key: value for key, value in field_schema.items() if key not in ("default", "title")}
        parameter = {"name": name, "in": "query", "required": name in schema.get("required", ()),
                     "schema": field_schema}
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return {"parameters": [*parameters, *extra]}


# The lists' (and the watch's) repeated enum filters, as query parameters: documented, and read by view column.
SELECTIONS = [{"name": f.parameter, "in": "query", "required": False,
               "description": f"repeated {f.values.__name__} names; empty means all",
               "schema": {"type": "array", "items": {"type": "string", "enum": [v.value for v in f.values]}}}
              for f in FILTERS.values()]


def selected_filters(request: Request) -> dict[str, list[str]]:
    return {column: request.query_params.getlist(f.parameter) for column, f in FILTERS.items()}
