"""The one place where errors become googlerpc Status codes and HTTP statuses (grpc-gateway's mapping)."""
from __future__ import annotations

from typing import TypeVar

from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError

from jobstore.adapters.storage.database import DatabaseUnavailable, NoStandbyAnswers
from jobstore.domain.errors import (
    AlreadyExists,
    ConcurrentUpdateConflict,
    FailedPrecondition,
    InvalidArgument,
    JobNotFound,
    JobStoreError,
    OutOfRange,
)

E = TypeVar("E", bound=Exception)


def at_position(error: E, position: int) -> E:
    """`error`, raised by a read of a view that stood at `position`: its answer carries the position too, so that
    a client can watch from it (a job not found yet, say)."""
    error.position = position  # type: ignore[attr-defined]
    return error


def position_of(error: Exception) -> int | None:
    position = getattr(error, "position", None)
    return position if isinstance(position, int) else None


class Unauthenticated(JobStoreError):
    pass


class KeyNotFound(JobStoreError):
    pass


class ReplayedError(JobStoreError):
    """The error an earlier request with the same idempotency key ended in, answered again."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class PermissionDenied(JobStoreError):
    pass


class ResourceExhausted(JobStoreError):
    pass


class Unavailable(JobStoreError):
    pass


class NotFound(JobStoreError):
    pass


class Unimplemented(JobStoreError):
    pass


class DeadlineExceeded(JobStoreError):
    pass


class Cancelled(JobStoreError):
    """The client went away before its request was read in full: nobody sees the answer, the log and the
    metrics count it as the client's doing (HTTP 499, as grpc-gateway maps CANCELLED)."""


# (googlerpc code, HTTP status), most specific class first.
STATUS: list[tuple[type[Exception], int, int]] = [
    (InvalidArgument, 3, 400),
    (OutOfRange, 11, 400),
    (FailedPrecondition, 9, 400),
    (JobNotFound, 5, 404),
    (KeyNotFound, 5, 404),
    (NotFound, 5, 404),
    (AlreadyExists, 6, 409),
    (ConcurrentUpdateConflict, 10, 409),
    (PermissionDenied, 7, 403),
    (Unauthenticated, 16, 401),
    (ResourceExhausted, 8, 429),
    (Unimplemented, 12, 405),
    (DeadlineExceeded, 4, 504),
    (Unavailable, 14, 503),
    (DatabaseUnavailable, 14, 503),
    (StoreOperationalError, 14, 503),
    (StoreInterfaceError, 14, 503),
    (Cancelled, 1, 499),
]
INTERNAL = (13, 500)


HTTP_STATUS_OF_CODE = {code: http_status for _, code, http_status in STATUS} | {INTERNAL[0]: INTERNAL[1]}


def status_of(error: Exception) -> tuple[int, int]:
    """(googlerpc code, HTTP status) for `error`; anything unexpected is INTERNAL."""
    if isinstance(error, ReplayedError):
        return error.code, HTTP_STATUS_OF_CODE.get(error.code, INTERNAL[1])
    for error_class, code, http_status in STATUS:
        if isinstance(error, error_class):
            return code, http_status
    return INTERNAL


def code_of(error: Exception) -> int:
    return status_of(error)[0]


def message_of(error: Exception) -> str:
    if isinstance(error, JobStoreError):
        return error.message
    if isinstance(error, NoStandbyAnswers):
        return str(error)
    if isinstance(error, DatabaseUnavailable | StoreOperationalError | StoreInterfaceError):
        return "the database is unavailable right now; retry shortly"
    return "internal error"
