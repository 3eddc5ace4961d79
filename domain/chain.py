"""The hash chain: each event of a job carries the SHA-256 of its own content and of the previous event's hash.

The canonical encoding, which an auditor can recompute with any tool:

    sha256( UTF-8 bytes of JSON.stringify-like compact JSON, keys sorted, of
            {"actor": {"name": ..., "role": ...}, "data": {...}, "jobId": ..., "prevHash": ...,
             "recordedAt": "YYYY-MM-DDTHH:MM:SS.ffffffZ", "requestId": ..., "serverRequestId": ...,
             "type": ..., "version": N} )

with separators "," and ":" and no whitespace, non-ASCII characters written as themselves (not \\u escapes).
The first event of a job chains from GENESIS, 64 zeros. `requestId` is the id the client gave its request (or
the server's, when it gave none); `serverRequestId`, the id the server gave the request, is in the record only
when the event has one: events recorded before servers chose one keep the record, and the hash, they had.

A job's data holds strings, booleans, objects and arrays, never a fractional number, NaN or Infinity (the API
cannot produce one, and `jobstore audit import` refuses one); for such records msgspec
writes exactly what Python's `json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
writes (tests/unit/test_encodings.py checks it), in an eighth of the time.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

GENESIS = "0" * 64
_CANONICAL = msgspec.json.Encoder(order="sorted")


class ChainedEvent(Protocol):
    @property
    def job_id(self) -> str: ...

    @property
    def originator_version(self) -> int: ...

    @property
    def prev_hash(self) -> str: ...

    @property
    def hash(self) -> str: ...

    def canonical(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Problem:
    """Something verification found wrong: which job, which event (if one), what differs."""

    job_id: str
    version: int | None
    what: str

    def __str__(self) -> str:
        where = f"job {self.job_id!r}" + (f" version {self.version}" if self.version is not None else "")
        return f"{where}: {self.what}"


def canonical_record(*, job_id: str, version: int, event_type: str, recorded_at: str, actor: str, role: str,
                     request_id: str, server_request_id: str | None, data: Mapping[str, object],
                     prev_hash: str) -> dict[str, Any]:
    record = {"jobId": job_id, "version": version, "type": event_type, "recordedAt": recorded_at,
              "actor": {"name": actor, "role": role}, "requestId": request_id, "data": data, "prevHash": prev_hash}
    if server_request_id is not None:
        record["serverRequestId"] = server_request_id
    return record


def canonical_bytes(record: dict[str, Any]) -> bytes:
    return _CANONICAL.encode(record)


def event_hash(record: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(record)).hexdigest()


class ChainFollower:
    """Follows jobs' hash chains event by event, in any interleaving of jobs: each job's next event must be its
    next version, link to the hash of the event before it, and hash to the hash it carries."""

    def __init__(self) -> None:
        self._heads: dict[str, tuple[int, str]] = {}

    def follow(self, event: ChainedEvent) -> list[Problem]:
        job_id, version = event.job_id, event.originator_version
        last_version, last_hash = self._heads.get(job_id, (0, GENESIS))
        problems: list[Problem] = []
        if version != last_version + 1:
            problems.append(Problem(job_id, version, f"expected version {last_version + 1}: events are missing"))
        if event.prev_hash != last_hash:
            problems.append(Problem(job_id, version, f"prevHash {event.prev_hash[:12]}… does not link to the "
                                                     f"hash {last_hash[:12]}… of the event before"))
        recomputed = event_hash(event.canonical())
        if recomputed != event.hash:
            problems.append(Problem(job_id, version, f"content does not match its hash: stored "
                                                     f"{event.hash[:12]}…, recomputed {recomputed[:12]}…"))
        self._heads[job_id] = (version, event.hash)
        return problems


def chain_problems(events: Iterable[ChainedEvent]) -> list[Problem]:
    """Recompute chains: every hash over its content, every prevHash linking to the event before."""
    follower = ChainFollower()
    return [problem for event in events for problem in follower.follow(event)]
