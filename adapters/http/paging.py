"""Opaque keyset page tokens: signed, so a token this service did not issue for this query is refused."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import asdict
from typing import Any

from jobstore.adapters.storage.views import JobFilter, PageKey
from jobstore.domain.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500


def page_size(requested: int | None) -> int:
    if requested is None or requested == 0:
        return DEFAULT_PAGE_SIZE
    if requested < 0:
        raise InvalidArgument("pageSize", f"must not be negative (got {requested})")
    return min(requested, MAX_PAGE_SIZE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, body: str) -> str:
    return _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:18])


def encode(secret: bytes, wanted: JobFilter, after: PageKey) -> str:
    body = _b64(json.dumps({"q": asdict(wanted), "k": [after.creation_time, after.job_id]},
                           separators=(",", ":")).encode())
    return f"{body}.{_sign(secret, body)}"


def decode(secret: bytes, token: str) -> tuple[JobFilter, PageKey]:
    refused = InvalidArgument("pageToken", "is not a page token that this service issued; start again from the "
                                           "first page without pageToken")
    body, _, signature = token.partition(".")
    if not hmac.compare_digest(_sign(secret, body).encode(), signature.encode("utf-8", "replace")):
        raise refused
    try:
        payload: dict[str, Any] = json.loads(_unb64(body))
        query = payload["q"]
        wanted = JobFilter(project_id=query["project_id"], agent_id=query["agent_id"],
                           statuses=tuple(query["statuses"]), types=tuple(query["types"]))
        return wanted, PageKey(*payload["k"])
    except (ValueError, KeyError, TypeError):
        raise refused from None
