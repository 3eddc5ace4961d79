"""Reads from PostgreSQL hot standbys (JOBSTORE_READ_DATABASE_URL), and from the primary while none answers.

A standby replays the primary's WAL, so a view's rows and its position arrive together, as they were committed.
A read statement runs on the standby; if the standby cannot be reached, the same statement runs again on the
primary (reads run in autocommit, a statement each, so nothing else of the request is undone), the standby is
marked down, and later reads go to the primary until a probe reaches the standby again (every second).

A standby cannot LISTEN, so a read that must see a position waits by polling: one query at a time per process,
whatever the number of waiting requests, each poll answering every waiter (`StandbyPositions`).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError
from psycopg_pool import PoolTimeout

from jobstore.adapters.storage.database import Cursor, Database, DatabaseUnavailable, NoStandbyAnswers

log = logging.getLogger("jobstore.standby")
T = TypeVar("T")
PROBE_SECONDS = 1.0
POLL_SECONDS = 0.002  # between two polls of a standby's positions while a read waits
# A server-reported error of these classes means the server is going or gone: connection exceptions, and an
# administrator's or a crash's shutdown (57P01-57P03).
_GONE_STATES = ("08", "57P")
_LIBRARY_UNREACHABLE = (InterfaceError, OperationalError)  # the eventsourcing library's (time travel)


def is_unreachable(error: BaseException) -> bool:
    """Whether `error` says the server cannot be reached (rather than that a statement failed on it)."""
    if isinstance(error, (DatabaseUnavailable, PoolTimeout, _LIBRARY_UNREACHABLE)):
        return True
    if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)):
        state = getattr(error, "sqlstate", None)
        return state is None or state.startswith(_GONE_STATES)
    return False


class ReadRoute:
    """Which server answers reads now: the standby while it answers, else the primary (when allowed)."""

    def __init__(self, standby: Database, primary: Database, probe: Callable[[], None], fallback: bool,
                 describe: str) -> None:
        self.standby = standby
        self.primary = primary
        self.fallback = fallback
        self.describe = describe  # for people: the standbys' hosts
        self._probe = probe  # connects to the standby, or raises
        self._up = True
        self._lock = threading.Lock()
        self._prober: threading.Thread | None = None
        self._closed = threading.Event()
        self.answered = {"standby": 0, "primary": 0}  # read statements answered, by server
        self.returns = 0  # how many times the standby came back (pools opened elsewhere check theirs then)
        self.on_return: list[Callable[[], None]] = []  # told when it does, before reads go back to it

    @property
    def on_standby(self) -> bool:
        return self._up

    @property
    def server(self) -> str:
        """Which server answers reads now, for /readyz, /metrics and `jobstore status`."""
        if self._up:
            return "standby"
        return "primary" if self.fallback else "none"

    def count(self, server: str) -> None:
        self.answered[server] += 1

    def standby_failed(self, error: BaseException) -> None:
        """The standby did not answer: reads go to the primary (or fail) until a probe reaches it again."""
        with self._lock:
            if not self._up:
                return
            self._up = False
            then = "reads go to the primary" if self.fallback else \
                "reads fail with UNAVAILABLE (JOBSTORE_READ_FALLBACK=none)"
            log.warning("the standby %s does not answer (%s); %s until it is back", self.describe,
                        str(error).strip() or type(error).__name__, then)
            self._prober = threading.Thread(target=self._probe_until_back, name="jobstore-standby-probe",
                                            daemon=True)
            self._prober.start()

    def check(self) -> None:
        """Try the standby now (for `jobstore status`, and as the store opens: one away then is marked down from
        the start, instead of at the first read, which would wait for the connection to time out)."""
        if not self._up:
            return
        try:
            self._probe()
        except Exception as error:  # noqa: BLE001 - any failure means it does not answer
            self.standby_failed(error)

    def unavailable(self, error: BaseException) -> NoStandbyAnswers:
        log.debug("a read refused: the standby %s does not answer (%s)", self.describe, error)
        return NoStandbyAnswers("no standby answers reads, and this server keeps them off the primary "
                                "(JOBSTORE_READ_FALLBACK=none); retry shortly")

    def _probe_until_back(self) -> None:
        while not self._closed.wait(PROBE_SECONDS):
            try:
                self._probe()
            except Exception as error:  # noqa: BLE001 - any failure means not back yet
                log.debug("the standby is still away: %s", error)
                continue
            for returned in self.on_return:
                returned()
            with self._lock:
                self._up = True
                self.returns += 1
            log.warning("the standby %s answers again; reads go to it", self.describe)
            return

    def read(self, on_standby: Callable[[], T], on_primary: Callable[[], T]) -> T:
        """Run a read that is not a single statement (a replay by the event-sourcing library) where reads go."""
        if self._up:
            try:
                result = on_standby()
            except Exception as error:
                if not is_unreachable(error):
                    raise
                self.standby_failed(error)
            else:
                self.count("standby")
                return result
        if not self.fallback:
            raise self.unavailable(RuntimeError("it was marked down"))
        result = on_primary()
        self.count("primary")
        return result

    def close(self) -> None:
        self._closed.set()


class _RoutedCursor:
    """A cursor on the standby that runs a statement again on the primary when the standby cannot answer."""

    def __init__(self, route: ReadRoute, cursor: Cursor, stack: ExitStack, binary: bool) -> None:
        self._route = route
        self._cursor = cursor
        self._stack = stack
        self._binary = binary
        self._server = "standby"

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    def execute(self, query: str, params: Sequence[Any] = (), /) -> Any:
        try:
            result = self._cursor.execute(query, params)
        except Exception as error:
            if self._server != "standby" or not is_unreachable(error):
                raise
            self._on_primary(error)
            result = self._cursor.execute(query, params)
        self._route.count(self._server)
        return result

    def executemany(self, query: str, params: Sequence[Sequence[Any]], /) -> Any:
        return self._cursor.executemany(query, params)

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    def _on_primary(self, error: BaseException) -> None:
        self._route.standby_failed(error)
        if not self._route.fallback:
            raise self._route.unavailable(error) from error
        self._cursor = self._stack.enter_context(self._route.primary.transaction(write=False, binary=self._binary))
        self._server = "primary"


class RoutedReads:
    """A Database for reads only: each statement on the standby, or on the primary while it is down."""

    def __init__(self, route: ReadRoute) -> None:
        self.route = route

    @contextmanager
    def transaction(self, write: bool = True, binary: bool = False) -> Iterator[Cursor]:
        assert not write, "reads only: writes go to the primary"
        route = self.route
        with ExitStack() as stack:
            if route.on_standby:
                try:
                    cursor = stack.enter_context(route.standby.transaction(write=False, binary=binary))
                except DatabaseUnavailable as error:
                    route.standby_failed(error)
                else:
                    yield _RoutedCursor(route, cursor, stack, binary)
                    return
            if not route.fallback:
                raise route.unavailable(RuntimeError("it does not answer"))
            routed = _RoutedCursor(route, stack.enter_context(route.primary.transaction(write=False, binary=binary)),
                                   stack, binary)
            routed._server = "primary"
            yield routed

    def close(self) -> None:
        self.route.close()
        self.route.standby.close()


class StandbyPositions:
    """How far the standby has replayed the views and the log, polled while reads wait for a position."""

    QUERY = ("SELECT (SELECT MIN(p.position) FROM view_tables AS v JOIN projection_positions AS p ON "
             "p.table_name = v.table_name), (SELECT MAX({position}) FROM {events})")

    def __init__(self, route: ReadRoute, position_column: str, events_table: str) -> None:
        self.route = route
        self.query = self.QUERY.format(position=position_column, events=events_table)
        self.views = 0  # the position every view on the standby has reached, as last polled
        self.log = 0  # the newest event on the standby, as last polled
        self._changed = threading.Condition()
        self._polling = False

    def wait_for(self, position: int, timeout: float, log: bool = False) -> bool | None:
        """Wait until the standby's views (or, with `log`, its log) hold `position`: True when they do, False
        after `timeout` seconds, None when the standby is away (read from the primary instead)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (self.log if log else self.views) < position:
                if not self.route.on_standby:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if self._polling:
                    self._changed.wait(remaining)
                    continue
                self._polling = True
                self._changed.release()
                try:
                    started = time.monotonic()
                    self._poll()
                    if (self.log if log else self.views) < position:  # pace the next poll
                        time.sleep(max(0.0, POLL_SECONDS - (time.monotonic() - started)))
                finally:
                    self._changed.acquire()
                    self._polling = False
                    self._changed.notify_all()
        return True

    def _poll(self) -> None:
        try:
            with self.route.standby.transaction(write=False) as cursor:
                cursor.execute(self.query)
                views, newest = cursor.fetchone()
        except Exception as error:
            if not is_unreachable(error):
                raise
            self.route.standby_failed(error)
            return
        self.views, self.log = max(self.views, int(views or 0)), max(self.log, int(newest or 0))

    def known(self, position: int) -> bool:
        """Whether the standby's views are known (without asking it) to hold `position`."""
        return self.views >= position
