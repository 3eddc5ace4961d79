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
        settings = cls(home=Path(env.get("JOBSTORE_HOME") or ".jobstore").absolute(), database_url=url,
                       database_schema=schema, projection_batch_size=int(batch))
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

    def event_store_env(self) -> dict[str, str]:
        """Settings for the eventsourcing library's persistence module."""
        # Recently written jobs stay in memory; a command on one decides without reading it back (see
        # Jobs._command for why a stale copy cannot cause a wrong answer).
        cache = {"AGGREGATE_CACHE_MAXSIZE": "10000", "AGGREGATE_CACHE_FASTFORWARD": "n",
                 "TRANSCODER_TOPIC": "jobstore.adapters.storage.library:EventTranscoder"}
        if not self.database_url:
            return {**cache, "PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(self.sqlite_path),
                    "SQLITE_LOCK_TIMEOUT": "30"}
        pg = self.postgres()
        return {**cache,
            "PERSISTENCE_MODULE": "jobstore.adapters.storage.library:PostgresFactory",
            "POSTGRES_DBNAME": pg["dbname"], "POSTGRES_HOST": pg["host"], "POSTGRES_PORT": pg["port"],
            "POSTGRES_USER": pg["user"], "POSTGRES_PASSWORD": pg["password"],
            "POSTGRES_SCHEMA": self.database_schema, "POSTGRES_POOL_SIZE": "5", "POSTGRES_MAX_OVERFLOW": "10",
            "POSTGRES_LOCK_TIMEOUT": "10", "POSTGRES_CONN_MAX_AGE": "",
            # During a database outage, answer UNAVAILABLE within seconds instead of queueing for a connection.
            "POSTGRES_CONNECT_TIMEOUT": "1",
            # The library's insert function skips the table lock that keeps insert order equal to commit order;
            # a tailing reader could then skip events. Never let the process environment turn it on.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n", "CREATE_TABLE": "y",
        }
