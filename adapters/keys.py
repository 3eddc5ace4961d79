"""API keys: stored as salted SHA-256 hashes, looked up by a public key id, compared in constant time.

A key reads `jsk_<key id>_<secret>`. The key id finds the row; only the secret's salted hash is stored.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from jobstore.adapters.core.access import Principal, Role
from jobstore.adapters.errors import KeyNotFound
from jobstore.adapters.storage.keys import KeyRecord, KeyTable
from jobstore.domain.document import format_time
from jobstore.domain.errors import AlreadyExists, InvalidArgument

PREFIX = "jsk_"


@dataclass(frozen=True)
class KeyInfo:
    name: str
    role: Role
    created_at: str
    revoked_at: str | None


def key_name_problem(name: str) -> str | None:
    """Why `name` cannot name a key, or None. A key's name is the actor of every event its key writes, shown in
    tables, logs and exports: it holds no control, format or other unprintable character (a terminal escape, a
    newline, a zero-width space) and does not begin or end with whitespace."""
    if not name:
        return "must not be empty"
    for position, char in enumerate(name, start=1):
        if not char.isprintable():
            return (f"must hold only printable characters (character {position} is U+{ord(char):04X}, "
                    f"{unicodedata.name(char, 'a control or unassigned character')})")
    if name != name.strip():
        return "must not begin or end with a space"
    return None


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


class KeyStore:
    """API keys. Successful look-ups are remembered in this process only while it learns of every revocation by
    any process before it answers another call: from a listener that forgets them the moment a key is revoked
    (PostgreSQL, see `remember_while_listening`), or by asking the store, before each look-up, whether anything
    was committed since the last one and, only then, whether more keys are revoked than before (SQLite)."""

    def __init__(self, table: KeyTable) -> None:
        self.table = table
        self._remembered: dict[str, Principal] = {}
        self._listening = False
        self._revoked_seen: int | None = None  # on a store that tells of commits: revocations counted last time
        self._lock = threading.Lock()

    def remember_while_listening(self, listening: bool) -> None:
        """Called by the key-change listener: True once it listens, False when it lost its connection."""
        with self._lock:
            self._listening = listening
            self._remembered.clear()

    def forget_all(self) -> None:
        with self._lock:
            self._remembered.clear()

    def create(self, role: Role, name: str | None = None) -> tuple[str, str]:
        """A new key for `role`; returns (name, key). The key is shown once and never stored."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        name = name or f"{role.value}-{key_id[:6]}"
        problem = key_name_problem(name)
        if problem is not None:
            raise InvalidArgument("name", problem)
        record = KeyRecord(name, role.value, salt, _digest(salt, secret), format_time(datetime.now(UTC)), None)
        if not self.table.insert(record, key_id):
            raise AlreadyExists(f"an API key named {name!r} exists already: choose another --name")
        return name, f"{PREFIX}{key_id}_{secret}"

    async def authenticate(self, key: str) -> Principal | None:
        """The caller `key` names, or None when it is unknown or revoked."""
        if self._listening or self._no_revocation_since_last_look():
            known = self._remembered.get(key)
            if known is not None:
                return known
        principal = await self.table.backend.point_read(lambda: self._look_up(key))
        if principal is not None:
            with self._lock:
                if (self._listening or self._revoked_seen is not None) and len(self._remembered) < 10_000:
                    self._remembered[key] = principal
        return principal

    def _no_revocation_since_last_look(self) -> bool:
        """Forgets the remembered keys when another connection revoked one; False when the store cannot tell."""
        committed = self.table.backend.committed_elsewhere()
        if committed is None:
            return False
        if committed or self._revoked_seen is None:
            revoked = self.table.revoked_count()
            if revoked != self._revoked_seen:
                with self._lock:
                    self._remembered.clear()
                    self._revoked_seen = revoked
        return True

    def _look_up(self, key: str) -> Principal | None:
        if not key.startswith(PREFIX) or "_" not in key[len(PREFIX):]:
            return None
        key_id, _, secret = key[len(PREFIX):].partition("_")
        record = self.table.active(key_id)
        if record is None or not hmac.compare_digest(_digest(record.salt, secret), record.key_hash):
            return None
        return Principal(name=record.name, role=Role(record.role))

    def all(self) -> list[KeyInfo]:
        return [KeyInfo(r.name, Role(r.role), r.created_at, r.revoked_at) for r in self.table.all()]

    def revoke(self, name: str) -> None:
        if not self.table.revoke(name, format_time(datetime.now(UTC))):
            raise KeyNotFound(f"no active API key is named {name!r} (see `jobstore keys list`)")
        self.forget_all()

    def any_active(self) -> bool:
        return self.table.any_active()
