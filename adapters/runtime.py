"""The composition root: builds the application, storage, views, keys and projection engine from Settings."""
from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from jobstore.adapters.audit import Audit, ReadSide
from jobstore.adapters.keys import KeyStore
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.backend import Backend, open_backend
from jobstore.adapters.storage.events import EventTable
from jobstore.adapters.storage.idempotency import IdempotencyStore
from jobstore.adapters.storage.keys import KeyTable
from jobstore.adapters.storage.library import TRANSCODER_TOPIC, StandbyJobs, StoredJobs
from jobstore.adapters.storage.log import EventStoreLog
from jobstore.adapters.storage.schema import create_schema
from jobstore.adapters.storage.tree import SqlTreeStore
from jobstore.adapters.storage.views import SqlViewStore
from jobstore.adapters.transparency import TransparencyLog
from jobstore.adapters.worker import ProjectionWorker
from jobstore.domain.application import Clock, Jobs, utc_now
from jobstore.projections.engine import ProjectionEngine

YOUNG_GENERATION_THRESHOLD = 50_000
THREAD_SWITCH_SECONDS = 0.001


def tune_interpreter() -> None:
    """For jobstore's own processes, measured on catch-up:

    - They allocate many short-lived objects (decoded events, documents, rows): collect the youngest generation
      every 50,000 allocations instead of Python's 700, and keep what was loaded at start out of full
      collections. About 25% more events per second. (A million was measured too: no faster once the views
      stopped decoding what they do not read.)
    - Their threads hand work to each other (the log read ahead, the views' commits): a thread that a commit has
      just woken waits for the running one to give up the interpreter lock, by default after up to 5 ms. Ask
      for it after 1 ms instead. About 10% more events per second.
    """
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])
    sys.setswitchinterval(THREAD_SWITCH_SECONDS)


@dataclass
class Services:
    settings: Settings
    backend: Backend
    jobs: Jobs
    views: SqlViewStore
    keys: KeyStore
    engine: ProjectionEngine
    tree: SqlTreeStore
    transparency: TransparencyLog
    event_log: EventStoreLog
    audit: Audit
    idempotency: IdempotencyStore
    page_secret: bytes
    last_written: int = 0
    worker: ProjectionWorker | None = None
    wakers: list[Callable[[], None]] = field(default_factory=list)  # told of every write (the watches' tail)

    def start_projections(self) -> ProjectionWorker:
        """Run the projections in this process, in the background (see adapters/worker.py)."""
        self.worker = ProjectionWorker(self.backend, self.engine)
        self.worker.start()
        return self.worker

    def hear_appends(self, heard: Callable[[], None]) -> bool:
        """Have `heard` called at every append, by any process, through the projection worker's listener; False
        when no worker runs in this process (the caller must listen for itself)."""
        if self.worker is None:
            return False
        self.worker.also_tell(heard)
        return True

    def note_written(self, position: int | None) -> None:
        """Remember the newest event this process appended, so its own later reads can wait for it."""
        if position is not None and position > self.last_written:
            self.last_written = position
        self.engine.wake.set()
        for wake in self.wakers:
            wake()

    def own_writes_visible(self) -> bool:
        """Whether reads need not wait for this process's writes (known without asking the database)."""
        if not self.last_written:
            return True
        standby = self.backend.standby_positions
        if standby is not None and standby.route.on_standby:
            return standby.known(self.last_written)
        return self.worker is None or self.engine.known_reached(self.last_written)

    def catch_up_with_own_writes(self, timeout: float = 2.0) -> None:
        """Read-your-writes within one process: wait (bounded) until the views that reads come from (the
        standby's, when reads go to one) hold this process's writes."""
        if not self.last_written:
            return
        standby = self.backend.standby_positions
        if standby is not None and standby.wait_for(self.last_written, timeout) is not None:
            return
        if self.worker is not None:
            self.engine.wait_for(self.last_written, timeout)

    def catch_up_log_with_own_writes(self, timeout: float = 2.0) -> None:
        """Read-your-writes for reads of the log (history, the feed, time travel): when they go to a standby,
        wait (bounded) until it holds this process's writes."""
        standby = self.backend.standby_positions
        if self.last_written and standby is not None and standby.log < self.last_written:
            standby.wait_for(self.last_written, timeout, log=True)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        self.engine.close()
        self.event_log.close()
        self.jobs.close()
        self.backend.close()


def event_store_env(backend: Backend) -> dict[str, str]:
    """The eventsourcing library's settings: the backend's, with jobstore's transcoder and cache."""
    # Recently written jobs stay in memory; a command on one decides without reading it back (see
    # Jobs._command for why a stale copy cannot cause a wrong answer).
    return {**backend.event_store_env(), "AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "n",
            "TRANSCODER_TOPIC": TRANSCODER_TOPIC}


def _standby_jobs(backend: Backend, clock: Clock) -> StandbyJobs | None:
    """The event store read from the standbys (time travel replays a job there), when reads go to any."""
    env = backend.standby_event_store_env()
    if env is None or backend.read_route is None:
        return None
    jobs = StandbyJobs({**env, "TRANSCODER_TOPIC": TRANSCODER_TOPIC}, clock)  # no aggregate cache: reads
    backend.read_route.on_return.append(jobs.replace_lost_connections)
    return jobs


def open_services(settings: Settings, clock: Clock = utc_now) -> Services:
    """Open (and on first use create) the store that `settings` names."""
    backend = open_backend(settings)
    with backend.schema_lock():
        jobs = StoredJobs(env=event_store_env(backend), clock=clock)  # creates the event store's tables
        create_schema(backend)
    views = SqlViewStore(backend)
    events = EventTable(backend)
    if backend.read_route is not None:
        backend.read_route.check()
    standby_jobs = _standby_jobs(backend, clock)
    reads = ReadSide(EventTable(backend, backend.reads), jobs, standby_jobs.opened if standby_jobs else None,
                     backend.read_route)
    event_log = EventStoreLog(events)
    tree = SqlTreeStore(backend)
    engine = ProjectionEngine(event_log, views, batch_size=settings.projection_batch_size,
                              tree=tree if settings.log_tree else None)
    keys = KeyTable(backend)
    return Services(settings=settings, backend=backend, jobs=jobs, views=views, keys=KeyStore(keys), engine=engine,
                    tree=tree, transparency=TransparencyLog(tree, settings.signing_key_path, settings.log_name),
                    event_log=event_log, audit=Audit(jobs, events, views, tree, reads),
                    idempotency=IdempotencyStore(backend.db, settings.idempotency_records_per_key),
                    page_secret=keys.secret("page-token"))
