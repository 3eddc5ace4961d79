"""The hash chain: each event of a job carries the SHA-256 of its own content and of the previous event's hash.

The canonical encoding, which an auditor can recompute with any tool:

    sha256( UTF-8 bytes of JSON.stringify-like compact JSON, keys sorted, of
            {"actor": {"name": ..., "role": ...}, "data": {...}, "jobId": ..., "prevHash": ...,
             "recordedAt": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "requestId": ..., "type": ..., "version": N} )

with separators "," and ":" and no whitespace, non-ASCII characters written as themselves (not \\u escapes).
The first event of a job chains from GENESIS, 64 zeros.

A job's data holds strings, booleans, objects and arrays, never a fractional number, NaN or Infinity (the API
cannot produce one, and `jobstore audit import` refuses one); for such records msgspec
writes exactly what Python's `json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
writes (tests/unit/test_encodings.py checks it), in an eighth of the time.
"""
from __future__ import annotations

import hashlib
from typing import Any

import msgspec

GENESIS = "0" * 64
_CANONICAL = msgspec.json.Encoder(order="sorted")


def canonical_record(*, job_id: str, version: int, event_type: str, recorded_at: str, actor: str, role: str,
                     request_id: str, data: dict[str, Any], prev_hash: str) -> dict[str, Any]:
    return {"jobId": job_id, "version": version, "type": event_type, "recordedAt": recorded_at,
            "actor": {"name": actor, "role": role}, "requestId": request_id, "data": data, "prevHash": prev_hash}


def canonical_bytes(record: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(record)


def event_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(record)).hexdigest()
