"""One transaction interface over both stores. SQL shared by both is written once, with `?` placeholders."""
from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the work for a reason outside the request."""


class NoStandbyAnswers(DatabaseUnavailable):
    """Reads must come from a standby (JOBSTORE_READ_FALLBACK=none) and none answers: the message is for clients."""


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(Protocol):
    def transaction(self, write: bool = True, binary: bool = False) -> AbstractContextManager[Cursor]:
        """A cursor in a transaction that commits on success and rolls back on any exception. A read
        (`write=False`) may run without one where the store allows. `binary` asks for bytes as raw bytes."""
        ...

    def close(self) -> None: ...
