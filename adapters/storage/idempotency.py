"""Idempotent writes: a retry with the same Idempotency-Key and the same request gets the first response and
appends nothing. Keys live in the database beside the events, per API key, for at least `KEEP`."""
from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from jobstore.adapters.storage.database import Database
from jobstore.domain.document import format_time
from jobstore.domain.errors import AlreadyExists, ConcurrentUpdateConflict

KEEP = timedelta(hours=48)
ABANDONED = timedelta(seconds=30)  # a claim this old whose request never finished may be taken over
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Stored:
    """A write's first answer: its googlerpc code (0 for OK), its JSON body, and where its event stands."""

    code: int
    body: str
    position: int | None


def _stored(status: int, body: str, extra: str) -> Stored:
    """A stored answer. Rows written before the core answered for every transport hold the HTTP status (200 or
    more, where codes are 0 to 16) and the position as the header {"x-jobstore-position": "N"}."""
    details = json.loads(extra or "{}")
    position = details.get("position", details.get("x-jobstore-position"))
    code = status if status < 100 else 0 if status == 200 else int(json.loads(body)["code"])
    return Stored(code, body, None if position is None else int(position))


class IdempotencyStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def claim(self, scope: str, key: str, fingerprint: str) -> Stored | None:
        """None when this request is the first with `key` (run it, then `complete`); else the stored response.

        Waits while another request with the same key is still running.
        """
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            now = datetime.now(UTC)
            with self.db.transaction() as cursor:
                if random.random() < 0.01:
                    cursor.execute("DELETE FROM idempotency_keys WHERE created_at < ?", (format_time(now - KEEP),))
                cursor.execute("INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, created_at) "
                               "VALUES (?, ?, ?, ?) ON CONFLICT (scope, idempotency_key) DO NOTHING",
                               (scope, key, fingerprint, format_time(now)))
                if cursor.rowcount == 1:
                    return None
                cursor.execute("SELECT fingerprint, status, body, headers, created_at FROM idempotency_keys "
                               "WHERE scope = ? AND idempotency_key = ?", (scope, key))
                row = cursor.fetchone()
                if row is None:
                    continue
                stored_fingerprint, status, body, headers, created_at = row
                if stored_fingerprint != fingerprint:
                    raise AlreadyExists(f"Idempotency-Key {key!r} was used before with a different request; "
                                        "use a new key for a new request")
                if status is not None:
                    return _stored(int(status), str(body), str(headers or ""))
                if created_at < format_time(now - ABANDONED):
                    cursor.execute("UPDATE idempotency_keys SET created_at = ? WHERE scope = ? AND "
                                   "idempotency_key = ? AND status IS NULL", (format_time(now), scope, key))
                    return None
            if time.monotonic() > deadline:
                raise ConcurrentUpdateConflict(f"a request with Idempotency-Key {key!r} is still in progress; "
                                               "retry it shortly")
            time.sleep(0.02)

    def complete(self, scope: str, key: str, answer: Stored) -> None:
        extra = json.dumps({} if answer.position is None else {"position": answer.position})
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE idempotency_keys SET status = ?, body = ?, headers = ? WHERE scope = ? AND "
                           "idempotency_key = ?", (answer.code, answer.body, extra, scope, key))

    def release(self, scope: str, key: str) -> None:
        """Forget a claim whose request failed for a passing reason, so that a retry runs it again."""
        with self.db.transaction() as cursor:
            cursor.execute("DELETE FROM idempotency_keys WHERE scope = ? AND idempotency_key = ? AND status IS NULL",
                           (scope, key))
