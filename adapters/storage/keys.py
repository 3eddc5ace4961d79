"""Where API keys and the service's own secrets are kept (the keys' hashes, never the keys)."""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from jobstore.adapters.storage.backend import KEYS_CHANNEL, Backend


@dataclass(frozen=True)
class KeyRecord:
    name: str
    role: str
    salt: str
    key_hash: str
    created_at: str
    revoked_at: str | None


class KeyTable:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.db = backend.db

    def insert(self, record: KeyRecord, key_id: str) -> bool:
        """False, storing nothing, when a key of that name exists."""
        with self.db.transaction() as cursor:
            cursor.execute("SELECT 1 FROM api_keys WHERE name = ?", (record.name,))
            if cursor.fetchone():
                return False
            cursor.execute("INSERT INTO api_keys (name, key_id, role, salt, key_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (record.name, key_id, record.role, record.salt, record.key_hash, record.created_at))
        return True

    def active(self, key_id: str) -> KeyRecord | None:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT name, role, salt, key_hash, created_at FROM api_keys "
                           "WHERE key_id = ? AND revoked_at IS NULL", (key_id,))
            row = cursor.fetchone()
        if row is None:
            return None
        name, role, salt, key_hash, created_at = row
        return KeyRecord(name, role, salt, key_hash, created_at, revoked_at=None)

    def all(self) -> list[KeyRecord]:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT name, role, salt, key_hash, created_at, revoked_at FROM api_keys "
                           "ORDER BY created_at, name")
            return [KeyRecord(*row) for row in cursor.fetchall()]

    def revoke(self, name: str, at: str) -> bool:
        """False when no active key has that name. Every process listening forgets the keys it remembered."""
        with self.db.transaction() as cursor:
            cursor.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (at, name))
            if cursor.rowcount != 1:
                return False
            self.backend.notify(cursor, KEYS_CHANNEL)
        return True

    def revoked_count(self) -> int:
        """How many keys were ever revoked: it grows with every revocation (a key is never deleted)."""
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL")
            return int(cursor.fetchone()[0])

    def any_active(self) -> bool:
        with self.db.transaction(write=False) as cursor:
            cursor.execute("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1")
            return cursor.fetchone() is not None

    def secret(self, name: str) -> bytes:
        """A random secret shared by every process on this store (made on first use)."""
        with self.db.transaction() as cursor:
            cursor.execute("INSERT INTO service_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                           (name, secrets.token_hex(32)))
            cursor.execute("SELECT value FROM service_secrets WHERE name = ?", (name,))
            return bytes.fromhex(cursor.fetchone()[0])
