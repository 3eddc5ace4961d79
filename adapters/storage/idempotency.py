"""Idempotent writes: a retry with the same Idempotency-Key and the same request gets the first response and
appends nothing. Keys live in the database beside the events, per API key, for at least `KEEP`.

A record holds what a replay needs and no more: a digest of the request, the answer's code and, for an answer
that shows a job, which version of the job it showed and when (the job is rebuilt from the log to answer a
replay), so that a record stays small whatever the job's size. Records written before kept the whole body."""
from __future__ import annotations

import contextlib
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobstore.adapters.errors import ResourceExhausted
from jobstore.adapters.storage.database import Cursor, Database, DatabaseUnavailable
from jobstore.domain.document import format_time, parse_time
from jobstore.domain.errors import AlreadyExists, ConcurrentUpdateConflict

KEEP = timedelta(hours=48)
RECOUNT_SECONDS = 60.0
ABANDONED = timedelta(seconds=30)  # a claim this old whose request never finished may be taken over
RELEASE_RETRY_SECONDS = 0.5
ANSWERING = timedelta(seconds=1)  # a request whose event committed answers within this, or never will
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class ShownJob:
    """The job an answer showed: its id, its version, and the moment the answer was rendered at."""

    job_id: str
    version: int
    at: datetime


@dataclass(frozen=True)
class Stored:
    """A write's first answer: its googlerpc code (0 for OK), its JSON body or the job it showed (to rebuild
    it from), and where its event stands."""

    code: int
    body: str
    position: int | None
    shown: ShownJob | None = None


@dataclass(frozen=True)
class Applied:
    """A claimed request whose write committed (its event is at `position`) but whose answer was never stored:
    the request ran in a process that lost its database (a failover) or stopped before it could answer."""

    position: int


def _stored(status: int, body: str, extra: str) -> Stored:
    """A stored answer. Rows written before the core answered for every transport hold the HTTP status (200 or
    more, where codes are 0 to 16) and the position as the header {"x-jobstore-position": "N"}."""
    details = json.loads(extra or "{}")
    position = details.get("position", details.get("x-jobstore-position"))
    code = status if status < 100 else 0 if status == 200 else int(json.loads(body)["code"])
    shown = None
    if "shown" in details:
        job_id, version, at = details["shown"]
        shown = ShownJob(job_id, version, parse_time(at))
    return Stored(code, body, None if position is None else int(position), shown)


class IdempotencyStore:
    def __init__(self, db: Database, records_per_key: int) -> None:
        self.db = db
        self.records_per_key = records_per_key
        self._counted: dict[str, tuple[int, float]] = {}  # per API key: records (as last counted, plus claims)
        self._unreleased: set[tuple[str, str]] = set()  # claims a lost database kept us from releasing
        self._releasing = threading.Lock()
        self._releaser: threading.Thread | None = None

    def claim(self, scope: str, key: str, fingerprint: str) -> Stored | Applied | None:
        """None when this request is the first with `key` (run it, then `complete`); else the stored response,
        or, for a request whose write committed but which never answered, where its event is.

        Waits while another request with the same key is still running.
        """
        deadline = time.monotonic() + WAIT_SECONDS
        self._release_what_was_left()
        while True:
            now = datetime.now(UTC)
            with self.db.transaction() as cursor:
                if random.random() < 0.01:
                    cursor.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (format_time(now - KEEP),))
                if self._full(cursor, scope, key):
                    raise ResourceExhausted(
                        f"the API key {scope!r} holds {self.records_per_key} idempotency records, the most it may "
                        f"keep ({KEEP.total_seconds() / 3600:.0f} h each): retry later, or send a new "
                        "Idempotency-Key only for a new request")
                cursor.execute("INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, created_at) "
                               "VALUES (?, ?, ?, ?) ON CONFLICT (scope, idempotency_key) DO NOTHING",
                               (scope, key, fingerprint, format_time(now)))
                if cursor.rowcount == 1:
                    self._note_claimed(scope)
                    return None
                cursor.execute("SELECT fingerprint, status, body, headers, created_at, applied_position FROM "
                               "idempotency_keys WHERE scope = ? AND idempotency_key = ?", (scope, key))
                row = cursor.fetchone()
                if row is None:
                    continue
                stored_fingerprint, status, body, headers, created_at, applied = row
                if stored_fingerprint != fingerprint:
                    raise AlreadyExists(f"Idempotency-Key {key!r} was used before with a different request; "
                                        "use a new key for a new request")
                if status is not None:
                    return _stored(int(status), str(body), str(headers or ""))
                if applied is not None and created_at < format_time(now - ANSWERING):
                    return Applied(int(applied))
                if created_at < format_time(now - ABANDONED):
                    cursor.execute("UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND "
                                   "idempotency_key = ? AND status IS NULL", (format_time(now), scope, key))
                    return None
            if time.monotonic() > deadline:
                raise ConcurrentUpdateConflict(f"a request with Idempotency-Key {key!r} is still in progress; "
                                               "retry it shortly")
            time.sleep(0.02)

    def _full(self, cursor: Cursor, scope: str, key: str) -> bool:
        """Whether the API key holds as many records as it may, and `key` is not one of them. Counted in the
        database once a minute, and at every claim once the count this process keeps reaches the bound (what
        other processes claimed in between may pass it, by less than a minute's claims)."""
        counted, since = self._counted.get(scope, (None, 0.0))
        if counted is None or counted >= self.records_per_key or time.monotonic() - since > RECOUNT_SECONDS:
            cursor.execute("SELECT COUNT(*) FROM idempotency_keys WHERE scope = ?", (scope,))
            counted = int(cursor.fetchone()[0])
            self._counted[scope] = (counted, time.monotonic())
        if counted < self.records_per_key:
            return False
        cursor.execute("SELECT 1 FROM idempotency_keys WHERE scope = ? AND idempotency_key = ?", (scope, key))
        return cursor.fetchone() is None

    def _note_claimed(self, scope: str) -> None:
        counted, since = self._counted[scope]
        self._counted[scope] = (counted + 1, since)

    def applied(self, scope: str, key: str) -> Applied | None:
        """Where a claimed request's event is, if its write committed (known on PostgreSQL, which notes it in
        the append's transaction), while no answer is stored."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT applied_position FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? "
                           "AND status IS NULL", (scope, key))
            row = cursor.fetchone()
        return None if row is None or row[0] is None else Applied(int(row[0]))

    def complete(self, scope: str, key: str, answer: Stored) -> None:
        """Store a claimed request's first answer (a request that answered the same key first keeps its own)."""
        extra: dict[str, Any] = {} if answer.position is None else {"position": answer.position}
        if answer.shown is not None:
            extra["shown"] = [answer.shown.job_id, answer.shown.version, format_time(answer.shown.at)]
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE idempotency_keys SET status = ?, body = ?, headers = ? WHERE scope = ? AND "
                           "idempotency_key = ? AND status IS NULL",
                           (answer.code, answer.body, json.dumps(extra), scope, key))

    def release(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed for a passing reason and wrote nothing, so that a retry runs it
        again. If the database is away, the claim is released when it is back (at this process's next claim)."""
        try:
            with self.db.transaction() as cursor:
                cursor.execute("DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND "
                               "status IS NULL AND applied_position IS NULL", (scope, key))
        except DatabaseUnavailable:
            with self._releasing:
                self._unreleased.add((scope, key))
                if self._releaser is None or not self._releaser.is_alive():
                    self._releaser = threading.Thread(target=self._release_when_back, daemon=True,
                                                      name="jobstore-idempotency-release")
                    self._releaser.start()
            raise
        self._unreleased.discard((scope, key))

    def _release_what_was_left(self) -> None:
        for scope, key in list(self._unreleased):
            self.release(scope, key)

    def _release_when_back(self) -> None:
        """Release the claims a lost database kept, as soon as it is back (a retry may come to another process,
        which would otherwise wait for the claim to be abandoned)."""
        while self._unreleased:
            time.sleep(RELEASE_RETRY_SECONDS)
            with contextlib.suppress(DatabaseUnavailable):
                self._release_what_was_left()
