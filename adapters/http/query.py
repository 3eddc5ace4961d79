"""Query parameters read through one pydantic model per route instead of one FastAPI parameter each: on the
hottest read (GetJob) FastAPI's per-parameter machinery cost about a third of the request. The model also
documents the parameters in /openapi.json, and a bad value is INVALID_ARGUMENT naming the parameter."""
from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ConfigDict, ValidationError

from jobstore.adapters.http.common import describe

Q = TypeVar("Q", bound=BaseModel)


class QueryModel(BaseModel):
    """Unknown parameters are ignored, as they are on every other route."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def parse_query(request: Request, model: type[Q]) -> Q:
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as error:
        raise describe(error) from None


def documented(model: type[QueryModel]) -> dict[str, Any]:
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
    return {"parameters": parameters}
