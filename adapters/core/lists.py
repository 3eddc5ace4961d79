"""What a list of jobs asks for, where its next page starts, and the opaque page tokens that carry both:
signed, so a token this service did not issue for this query is refused."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from jobstore.domain.errors import InvalidArgument
from jobstore.domain.values import nul_problem
from jobstore.projections.columns import FILTERS

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500
MAX_PAGE_BYTES = 4 * 1024 * 1024  # of JSON in a page's answer; a single larger job comes alone
_SHOWN_BEYOND_DOCUMENT = 256  # at most, per job: what a read adds to the stored document, and separators
_PAGE_WRAPPING = 4096  # the answer's own keys and its next page token
# Tokens issued before list filters were declared with the columns named these filters so.
_OLD_FILTER_NAMES = {"statuses": "status", "types": "job_type"}


@dataclass(frozen=True)
class JobFilter:
    """What a list asks for: jobs of a project, of an agent, and whose filterable columns hold one of the
    values selected (projections.columns.FILTERS; a column not selected means all)."""

    project_id: str | None = None
    agent_id: str | None = None
    selected: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def selection(self, column: str) -> tuple[str, ...]:
        return dict(self.selected).get(column, ())


@dataclass(frozen=True)
class PageKey:
    """Where a page starts: after this (creation time, job id), newest first."""

    creation_time: str
    job_id: str


def page_size(requested: int | None) -> int:
    if requested is None or requested == 0:
        return DEFAULT_PAGE_SIZE
    if requested < 0:
        raise InvalidArgument("pageSize", f"must not be negative (got {requested})")
    return min(requested, MAX_PAGE_SIZE)


def page_document_bytes(size: int) -> int:
    """How many bytes of stored documents a page of `size` jobs may hold, so that its answer stays within
    MAX_PAGE_BYTES."""
    return MAX_PAGE_BYTES - _PAGE_WRAPPING - size * _SHOWN_BEYOND_DOCUMENT


def filter_text(field: str, value: str | None) -> str | None:
    """A filter's value (a project or an agent id), which a job's field could hold: INVALID_ARGUMENT naming
    `field` for a NUL character, which no job's field holds and PostgreSQL cannot compare."""
    problem = None if value is None else nul_problem(value)
    if problem is not None:
        raise InvalidArgument(field, problem)
    return value


def selection(chosen: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The filters' selected values, each checked against the values its column takes; `chosen` is keyed by
    column name."""
    selected = []
    for column, values in sorted(chosen.items()):
        allowed = FILTERS[column].values
        for value in values:
            if value not in allowed.__members__.values():
                raise InvalidArgument(FILTERS[column].parameter,
                                      f"{value!r} is not one of {', '.join(v.value for v in allowed)}")
        if values:
            selected.append((column, tuple(values)))
    return tuple(selected)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:18])


def encode_token(secret: bytes, wanted: JobFilter, after: PageKey) -> str:
    query = {"project_id": wanted.project_id, "agent_id": wanted.agent_id, **dict(wanted.selected)}
    body = _b64(json.dumps({"q": query, "k": [after.creation_time, after.job_id]}, separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}"


def decode_token(secret: bytes, token: str) -> tuple[JobFilter, PageKey]:
    refused = InvalidArgument("pageToken", "is not a page token that this service issued; start again from the "
                                           "first page without pageToken")
    body, _, signature = token.partition(".")
    if not hmac.compare_digest(_sign(secret, body).encode(), signature.encode("utf-8", "replace")):
        raise refused
    try:
        payload: dict[str, Any] = json.loads(_unb64(body))
        query = dict(payload["q"])
        project_id, agent_id = query.pop("project_id"), query.pop("agent_id")
        chosen: dict[str, list[str]] = {_OLD_FILTER_NAMES.get(str(name)) or str(name): list(values)
                                        for name, values in query.items()}
        if not set(chosen) <= set(FILTERS):
            raise refused
        return JobFilter(project_id, agent_id, selection(chosen)), PageKey(*payload["k"])
    except (ValueError, KeyError, TypeError):
        raise refused from None
