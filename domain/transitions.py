"""The published state machine, as data. The aggregate, the docs and the tests all read this one table.

`TRANSITIONS[from_status][to_status]` says how a job may move: `Route.DIRECT` through UpsertJob (or FailJob for
FAILED), `Route.FINALIZE` only through FinalizeCancellation after a cancellation was requested. A pair that is
absent is refused. The key `None` stands for a job that does not exist yet.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Final

from jobstore.domain.enums import JobStatus


class Route(StrEnum):
    DIRECT = "yes"
    FINALIZE = "via finalize"


S = JobStatus
NEW_JOB: Final = None

TRANSITIONS: Final[dict[JobStatus | None, dict[JobStatus, Route]]] = {
    NEW_JOB: {S.PENDING: Route.DIRECT},
    S.REQUESTED: {S.PENDING: Route.DIRECT, S.RECONCILING: Route.DIRECT, S.FAILED: Route.DIRECT,
                  S.CANCELLED: Route.FINALIZE},
    S.PENDING: {S.RUNNING: Route.DIRECT, S.RECONCILING: Route.DIRECT, S.FAILED: Route.DIRECT,
                S.CANCELLED: Route.FINALIZE},
    S.RUNNING: {S.RECONCILING: Route.DIRECT, S.SUCCEEDED: Route.DIRECT, S.FAILED: Route.DIRECT,
                S.CANCELLED: Route.FINALIZE},
    S.RECONCILING: {S.PENDING: Route.DIRECT, S.RUNNING: Route.DIRECT, S.SUCCEEDED: Route.DIRECT,
                    S.FAILED: Route.DIRECT, S.CANCELLED: Route.FINALIZE},
    S.SUCCEEDED: {},
    S.FAILED: {},
    S.CANCELLED: {},
}

# A new job starts here unless its first upsert asks for one of TRANSITIONS[NEW_JOB].
INITIAL_STATUS: Final = S.REQUESTED
TERMINAL: Final = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})


def route(from_status: JobStatus | None, to_status: JobStatus) -> Route | None:
    """How `from_status` may move to `to_status`, or None when the table forbids it."""
    return TRANSITIONS[from_status].get(to_status)
