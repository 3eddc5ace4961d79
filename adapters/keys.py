"""API keys: stored as salted SHA-256 hashes, looked up by a public key id, compared in constant time.

A key reads `jsk_<key id>_<secret>`. The key id finds the row; only the secret's salted hash is stored.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from jobstore.adapters.storage.database import Database
from jobstore.domain.document import format_time
from jobstore.domain.errors import AlreadyExists, JobStoreError

PREFIX = "jsk_"


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    WRITE = "write"
    AUDIT = "audit"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.READER: frozenset({Permission.READ}),
    Role.WRITER: frozenset({Permission.READ, Permission.WRITE}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.AUDIT}),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True)
class Principal:
    """Who a request comes from: the key's name and role."""

    name: str
    role: Role

    def may(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


@dataclass(frozen=True)
class KeyInfo:
    name: str
    role: Role
    created_at: str
    revoked_at: str | None


class KeyNotFound(JobStoreError):
    pass


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


KEYS_CHANNEL = "jobstore_keys"  # NOTIFYed on PostgreSQL when a key is revoked


class KeyStore:
    """API keys in the database. Successful look-ups are remembered in this process only while a listener
    promises to forget them the moment any process revokes a key (see `remember_while_listening`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._remembered: dict[str, Principal] = {}
        self._listening = False
        self._lock = threading.Lock()

    def remember_while_listening(self, listening: bool) -> None:
        """Called by the key-change listener: True once it listens, False when it lost its connection."""
        with self._lock:
            self._listening = listening
            self._remembered.clear()

    def forget_all(self) -> None:
        with self._lock:
            self._remembered.clear()

    def remembered(self, key: str) -> Principal | None:
        return self._remembered.get(key)

    def create(self, role: Role, name: str | None = None) -> tuple[str, str]:
        """A new key for `role`; returns (name, key). The key is shown once and never stored."""
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        name = name or f"{role.value}-{key_id[:6]}"
        with self.db.transaction() as cursor:
            cursor.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,))
            if cursor.fetchone():
                raise AlreadyExists(f"an API key named {name!r} exists already: choose another --name")
            cursor.execute("INSERT INTO api_keys (name, key_id, role, salt, key_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (name, key_id, role.value, salt, _digest(salt, secret), format_time(datetime.now(UTC))))
        return name, f"{PREFIX}{key_id}_{secret}"

    def authenticate(self, key: str) -> Principal | None:
        known = self._remembered.get(key)
        if known is not None:
            return known
        principal = self._look_up(key)
        if principal is not None:
            with self._lock:
                if self._listening and len(self._remembered) < 10_000:
                    self._remembered[key] = principal
        return principal

    def _look_up(self, key: str) -> Principal | None:
        if not key.startswith(PREFIX) or "_" not in key[len(PREFIX):]:
            return None
        key_id, _, secret = key[len(PREFIX):].partition("_")
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT name, role, salt, key_hash FROM api_keys WHERE key_id = ? AND revoked_at IS NULL",
                           (key_id,))
            row = cursor.fetchone()
        if row is None:
            return None
        name, role, salt, key_hash = row
        if not hmac.compare_digest(_digest(salt, secret), key_hash):
            return None
        return Principal(name=name, role=Role(role))

    def list(self) -> list[KeyInfo]:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT name, role, created_at, revoked_at FROM api_keys ORDER BY created_at, name")
            return [KeyInfo(name, Role(role), created, revoked) for name, role, created, revoked in cursor.fetchall()]

    def revoke(self, name: str) -> None:
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                           (format_time(datetime.now(UTC)), name))
            if cursor.rowcount != 1:
                raise KeyNotFound(f"no active API key is named {name!r} (see `jobstore keys list`)")
            if self.db.dialect == "postgres":
                cursor.execute(f'NOTIFY "{KEYS_CHANNEL}"')
        self.forget_all()

    def any_active(self) -> bool:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
            return cursor.fetchone() is not None


def service_secret(db: Database, name: str) -> bytes:
    """A random secret shared by every process on this store (made on first use)."""
    with db.transaction() as cursor:
        cursor.execute("INSERT INTO service_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                       (name, secrets.token_hex(32)))
        cursor.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
        return bytes.fromhex(cursor.fetchone()[0])
