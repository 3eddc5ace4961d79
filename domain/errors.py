"""The errors a command or query can end in. Adapters map each to a googlerpc code in exactly one place."""
from __future__ import annotations


class JobStoreError(Exception):
    """Base of every error that jobstore reports to its users."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(JobStoreError):
    """The request itself is malformed; `field` names the offending field (dotted, camelCase)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field


class JobNotFound(JobStoreError):
    def __init__(self, job_id: str, when: str = "") -> None:
        super().__init__(f"job {job_id!r} does not exist{' ' + when if when else ''}")
        self.job_id = job_id


class FailedPrecondition(JobStoreError):
    """The request is well formed but the job's current state does not allow it."""


class IllegalTransition(FailedPrecondition):
    """The transition table has no such move."""


class ConcurrentUpdateConflict(JobStoreError):
    """Other writers kept changing the job while this command retried; the client may retry (ABORTED)."""


class AlreadyExists(JobStoreError):
    """Something with this identity exists already."""


class OutOfRange(JobStoreError):
    """A position or version beyond what exists."""
