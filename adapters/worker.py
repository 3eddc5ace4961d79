"""The projection worker: runs the engine for the views this process may project (on PostgreSQL, one active
worker per view; see the backend's view locks), woken by new events where the store can tell; and the listener
that lets an API process remember API keys it has checked."""
from __future__ import annotations

import threading
from collections.abc import Callable

from jobstore.adapters.keys import KeyStore
from jobstore.adapters.storage.backend import EVENTS_CHANNEL, KEYS_CHANNEL, Backend
from jobstore.projections.engine import ProjectionEngine


class ProjectionWorker:
    def __init__(self, backend: Backend, engine: ProjectionEngine) -> None:
        self.backend = backend
        self.engine = engine
        self.locks = backend.view_locks(engine.views)
        self.stop = threading.Event()
        self._also_told: tuple[Callable[[], None], ...] = ()
        self.threads = [
            threading.Thread(target=self.engine.run, args=(self.stop,),
                             kwargs={"views": self.locks.current, "idle_seconds": 0.5}, name="projections",
                             daemon=True),
            threading.Thread(target=backend.listen, name="projection-wakeups", daemon=True,
                             args=(EVENTS_CHANNEL, self.stop, self._heard, self._listening)),
        ]

    def also_tell(self, heard: Callable[[], None]) -> None:
        """Call `heard` too at every append this process's listener hears of (from any process): one listening
        connection and thread for the projections and the watches' tail."""
        self._also_told = (*self._also_told, heard)

    def _heard(self) -> None:
        self.engine.wake.set()
        for heard in self._also_told:
            heard()

    def _listening(self, listening: bool) -> None:
        if listening:
            self._heard()  # whatever was appended before this process listened

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def close(self) -> None:
        self.stop.set()
        self.engine.wake.set()
        for thread in self.threads:
            thread.join(timeout=10)
        self.locks.close()


class KeyChangeListener:
    """Lets an API process remember keys it has checked while it hears every revocation: any revocation, by any
    process, notifies the keys channel and every listening process forgets what it remembered at once. Without
    a live listener (or on a store that cannot notify) every request checks its key in the database."""

    def __init__(self, backend: Backend, keys: KeyStore) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=backend.listen, name="key-changes", daemon=True,
                                       args=(KEYS_CHANNEL, self.stop, keys.forget_all,
                                             keys.remember_while_listening))

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)
