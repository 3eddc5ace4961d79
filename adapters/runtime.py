"""The composition root: builds the application, storage, views, keys and projection engine from Settings."""
from __future__ import annotations

import contextlib
import gc
import sys
from dataclasses import dataclass

import psycopg
from psycopg import sql

from jobstore.adapters.audit import Audit
from jobstore.adapters.idempotency import IdempotencyStore
from jobstore.adapters.keys import KeyStore, service_secret
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.database import AsyncReads, Database, PostgresDatabase, SQLiteDatabase
from jobstore.adapters.storage.events import EventTable
from jobstore.adapters.storage.library import StoredJobs
from jobstore.adapters.storage.log import EventStoreLog
from jobstore.adapters.storage.schema import create_schema, schema_lock
from jobstore.adapters.storage.views import SqlViewStore
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
    jobs: Jobs
    db: Database
    views: SqlViewStore
    keys: KeyStore
    engine: ProjectionEngine
    log: EventStoreLog
    audit: Audit
    idempotency: IdempotencyStore
    page_secret: bytes
    last_written: int = 0
    worker: ProjectionWorker | None = None

    def start_projections(self) -> ProjectionWorker:
        """Run the projections in this process, in the background (see adapters/worker.py)."""
        self.worker = ProjectionWorker(self.settings, self.engine)
        self.worker.start()
        return self.worker

    def note_written(self, position: int | None) -> None:
        """Remember the newest event this process appended, so its own later reads can wait for it."""
        if position is not None and position > self.last_written:
            self.last_written = position
        self.engine.wake.set()

    def own_writes_visible(self) -> bool:
        """Whether reads need not wait for this process's writes (known without asking the database)."""
        return not self.last_written or self.worker is None or self.engine.known_reached(self.last_written)

    def catch_up_with_own_writes(self, timeout: float = 2.0) -> None:
        """Read-your-writes within one process: wait (bounded) until the views hold this process's writes."""
        if self.last_written and self.worker is not None:
            self.engine.wait_for(self.last_written, timeout)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
        self.engine.close()
        self.log.close()
        self.jobs.close()
        self.db.close()


def _ensure_postgres_schema(settings: Settings) -> None:
    if settings.database_schema == "public":
        return
    with psycopg.connect(**settings.postgres(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.database_schema)))


def open_services(settings: Settings, clock: Clock = utc_now) -> Services:
    """Open (and on first use create) the store that `settings` names."""
    db: Database
    if settings.database_url:
        db = PostgresDatabase(settings.postgres(), settings.database_schema)
    else:
        settings.home.mkdir(parents=True, exist_ok=True)
        db = SQLiteDatabase(settings.sqlite_path)
    with schema_lock(settings.postgres()) if settings.database_url else contextlib.nullcontext():
        if settings.database_url:
            _ensure_postgres_schema(settings)
        jobs = StoredJobs(env=settings.event_store_env(), clock=clock)  # creates the event store's tables
        create_schema(db)
    async_reads = AsyncReads(settings.postgres(), settings.database_schema) if settings.database_url else None
    views = SqlViewStore(db, async_reads=async_reads)
    events = EventTable(db)
    log = EventStoreLog(events)
    engine = ProjectionEngine(log, views, batch_size=settings.projection_batch_size)
    return Services(settings=settings, jobs=jobs, db=db, views=views, keys=KeyStore(db), engine=engine, log=log,
                    audit=Audit(jobs, events, views), idempotency=IdempotencyStore(db),
                    page_secret=service_secret(db, "page-token"))
