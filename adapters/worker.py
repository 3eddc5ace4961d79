"""The projection worker: runs the engine for the views it holds, wakes on new events, and on PostgreSQL
holds one advisory lock per view, so that one worker per view is active and a standby takes over within
seconds when the active one dies (PostgreSQL frees a dead session's locks at once)."""
from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Sequence

import psycopg

from jobstore.adapters.keys import KEYS_CHANNEL, KeyStore
from jobstore.adapters.settings import Settings
from jobstore.domain.enums import JobView
from jobstore.projections.engine import ProjectionEngine
from jobstore.projections.render import VIEWS

log = logging.getLogger("jobstore.worker")
LOCK_RETRY_SECONDS = 1.0
CHANNEL = "jobstore_events"  # the event store NOTIFYs this channel in every insert transaction


def lock_key(schema: str, view: JobView) -> int:
    digest = hashlib.sha256(f"jobstore:{schema}:{view.value}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class ViewLocks:
    """Which views this process may project. On SQLite (one host, one file) that is every view."""

    def __init__(self, settings: Settings, views: Sequence[JobView] = VIEWS) -> None:
        self.settings = settings
        self.views = tuple(views)
        self.held: set[JobView] = set() if settings.database_url else set(self.views)
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current(self) -> tuple[JobView, ...]:
        if not self.settings.database_url:
            return self.views
        with self._lock:
            if time.monotonic() - self._checked >= LOCK_RETRY_SECONDS:
                self._checked = time.monotonic()
                self._refresh()
            return tuple(v for v in self.views if v in self.held)

    def _refresh(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self.held.clear()
                self._conn = psycopg.connect(**self.settings.postgres(), autocommit=True)  # type: ignore[arg-type]
            self._conn.execute("SELECT 1")
            for view in self.views:
                if view in self.held:
                    continue
                row = self._conn.execute("SELECT pg_try_advisory_lock(%s)",
                                         (lock_key(self.settings.database_schema, view),)).fetchone()
                if row and row[0]:
                    self.held.add(view)
                    log.info("this worker now projects %s", view.value)
        except psycopg.Error as error:
            if self.held:
                log.warning("lost the projection locks (%s); another worker may take over", error)
            self.held.clear()
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


class ProjectionWorker:
    def __init__(self, settings: Settings, engine: ProjectionEngine) -> None:
        self.settings = settings
        self.engine = engine
        self.locks = ViewLocks(settings, engine.views)
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        run = threading.Thread(target=self.engine.run, args=(self.stop,),
                               kwargs={"views": self.locks.current, "idle_seconds": 0.5},
                               name="projections", daemon=True)
        self.threads.append(run)
        if self.settings.database_url:
            self.threads.append(threading.Thread(target=self._listen, name="projection-wakeups", daemon=True))
        for thread in self.threads:
            thread.start()

    def _listen(self) -> None:
        """Wake the engine on every NOTIFY of the events channel; reconnect when the database comes back."""
        while not self.stop.is_set():
            try:
                with psycopg.connect(**self.settings.postgres(), autocommit=True) as conn:  # type: ignore[arg-type]
                    conn.execute(f'LISTEN "{CHANNEL}"')
                    self.engine.wake.set()
                    while not self.stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.engine.wake.set()
            except psycopg.Error as error:
                log.warning("listening for new events failed (%s); retrying in 1 s", error)
                self.stop.wait(1.0)

    def close(self) -> None:
        self.stop.set()
        self.engine.wake.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.locks.close()


class KeyChangeListener:
    """On PostgreSQL, lets an API process remember keys it has checked: any revocation, by any process, NOTIFYs
    the keys channel and every listening process forgets what it remembered at once. Without a live listener
    (or on SQLite) every request checks its key in the database."""

    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self.settings = settings
        self.keys = keys
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._listen, name="key-changes", daemon=True)

    def start(self) -> None:
        if self.settings.database_url:
            self.thread.start()

    def _listen(self) -> None:
        while not self.stop.is_set():
            try:
                with psycopg.connect(**self.settings.postgres(), autocommit=True) as conn:  # type: ignore[arg-type]
                    conn.execute(f'LISTEN "{KEYS_CHANNEL}"')
                    self.keys.remember_while_listening(True)
                    while not self.stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.keys.forget_all()
                        conn.execute("SELECT 1")  # notice a dead connection within a second
            except psycopg.Error as error:
                log.warning("listening for key changes failed (%s); checking every key in the database", error)
            finally:
                self.keys.remember_while_listening(False)
            self.stop.wait(1.0)

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
