"""Settings, read from the environment in this one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit


class SettingsError(Exception):
    """A setting has a value jobstore cannot use; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    database_schema: str = "public"
    projection_batch_size: int = 5000
    idempotency_records_per_key: int = 1_000_000  # kept at once (48 h each) for one API key

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        url = env.get("JOBSTORE_DATABASE_URL") or None
        schema = env.get("JOBSTORE_DATABASE_SCHEMA") or "public"
        if not schema.replace("_", "").isalnum() or not schema[0].isalpha():
            raise SettingsError(f"JOBSTORE_DATABASE_SCHEMA={schema!r} is not a plain identifier "
                                "(letters, digits and '_', starting with a letter)")
        batch = env.get("JOBSTORE_PROJECTION_BATCH_SIZE") or "5000"
        if not batch.isdigit() or not 1 <= int(batch) <= 100_000:
            raise SettingsError(f"JOBSTORE_PROJECTION_BATCH_SIZE={batch!r} must be a whole number from 1 to 100000")
        records = env.get("JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY") or "1000000"
        if not records.isdigit() or int(records) < 1:
            raise SettingsError(f"JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY={records!r} must be a whole number, 1 or more")
        settings = cls(home=Path(env.get("JOBSTORE_HOME") or ".jobstore").absolute(), database_url=url,
                       database_schema=schema, projection_batch_size=int(batch),
                       idempotency_records_per_key=int(records))
        if url:
            settings.postgres()
        return settings

    @property
    def sqlite_path(self) -> Path:
        return self.home / "jobstore.sqlite3"

    def postgres(self) -> dict[str, str]:
        """The parts of JOBSTORE_DATABASE_URL=postgresql://user:password@host:port/dbname, or, for a server on
        this host reached through its Unix socket, postgresql://user@/dbname?host=/run/postgresql."""
        assert self.database_url
        parts = urlsplit(self.database_url)
        query = dict(parse_qsl(parts.query))
        host = query.get("host") or parts.hostname
        if parts.scheme not in ("postgresql", "postgres") or not host or not parts.path.strip("/"):
            raise SettingsError(
                "JOBSTORE_DATABASE_URL must look like postgresql://user:password@host:port/dbname, or "
                "postgresql://user@/dbname?host=/run/postgresql for a Unix socket "
                f"(got scheme {parts.scheme!r}, host {host!r}, database {parts.path.strip('/')!r})")
        return {
            "host": host,
            "port": str(query.get("port") or parts.port or 5432),
            "user": unquote(parts.username or ""),
            "password": unquote(parts.password or ""),
            "dbname": unquote(parts.path.strip("/")),
        }
