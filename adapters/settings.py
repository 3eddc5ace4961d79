"""Settings, read from the environment in this one place."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict


class SettingsError(Exception):
    """A setting has a value jobstore cannot use; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str | None = None
    read_database_url: str | None = None  # hot standbys that serve reads
    read_fallback: bool = True  # whether reads go to the primary while no standby answers
    database_schema: str = "public"
    projection_batch_size: int = 5000
    idempotency_records_per_key: int = 1_000_000  # kept at once (48 h each) for one API key
    http_request_timeout: float = 30.0
    http_keep_alive_timeout: int = 5
    http_max_connections: int = 1000
    watch_buffer: int = 1000  # changes waiting for one watch's client before it is cut off
    watch_heartbeat_seconds: float = 15.0  # a quiet watch sends a bookmark this often
    log_signing_key: Path | None = None  # the checkpoints' signing key (default: log-signing.key in home)
    log_name: str | None = None  # the name a new signing key gets, and so the checkpoints' origin
    log_tree: bool = True  # whether the projection worker keeps the log's Merkle tree

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        url = env.get("JOBSTORE_DATABASE_URL") or None
        read_url = env.get("JOBSTORE_READ_DATABASE_URL") or None
        if read_url and not url:
            raise SettingsError("JOBSTORE_READ_DATABASE_URL names standbys of a PostgreSQL primary: set "
                                "JOBSTORE_DATABASE_URL to the primary too (the embedded SQLite store has none)")
        read_fallback = env.get("JOBSTORE_READ_FALLBACK") or "primary"
        if read_fallback not in ("primary", "none"):
            raise SettingsError(f"JOBSTORE_READ_FALLBACK={read_fallback!r} must be primary (reads go to the primary "
                                "while no standby answers) or none (they fail with UNAVAILABLE)")
        schema = env.get("JOBSTORE_DATABASE_SCHEMA") or "public"
        if not schema.replace("_", "").isalnum() or not schema[0].isalpha():
            raise SettingsError(f"JOBSTORE_DATABASE_SCHEMA={schema!r} is not a plain identifier "
                                "(letters, digits and '_', starting with a letter)")
        batch = env.get("JOBSTORE_PROJECTION_BATCH_SIZE") or "5000"
        if not batch.isdigit() or not 1 <= int(batch) <= 100_000:
            raise SettingsError(f"JOBSTORE_PROJECTION_BATCH_SIZE={batch!r} must be a whole number from 1 to 100000")
        request_timeout = _number(env, "JOBSTORE_HTTP_REQUEST_TIMEOUT", 30.0, 0.1, 3600.0)
        keep_alive = int(_number(env, "JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT", 5, 1, 3600, whole=True))
        if keep_alive > request_timeout:
            raise SettingsError(f"JOBSTORE_HTTP_KEEP_ALIVE_TIMEOUT={keep_alive} must not exceed "
                                f"JOBSTORE_HTTP_REQUEST_TIMEOUT={request_timeout:g}: an idle connection is closed "
                                "when its next request is due anyway")
        max_connections = int(_number(env, "JOBSTORE_HTTP_MAX_CONNECTIONS", 1000, 1, 1_000_000, whole=True))
        records = int(_number(env, "JOBSTORE_IDEMPOTENCY_RECORDS_PER_KEY", 1_000_000, 1, 10**12, whole=True))
        watch_buffer = int(_number(env, "JOBSTORE_WATCH_BUFFER", 1000, 1, 1_000_000, whole=True))
        heartbeat = _number(env, "JOBSTORE_WATCH_HEARTBEAT_SECONDS", 15.0, 0.05, 3600.0)
        log_name = env.get("JOBSTORE_LOG_NAME") or None
        if log_name is not None and ("+" in log_name or not log_name.isprintable() or
                                     any(c.isspace() for c in log_name)):
            raise SettingsError(f"JOBSTORE_LOG_NAME={log_name!r} must be printable, without spaces or '+' (for "
                                "example jobstore.example.com/log)")
        signing_key = env.get("JOBSTORE_LOG_SIGNING_KEY") or None
        log_tree = env.get("JOBSTORE_LOG_TREE") or "on"
        if log_tree not in ("on", "off"):
            raise SettingsError(f"JOBSTORE_LOG_TREE={log_tree!r} must be on or off")
        settings = cls(home=Path(env.get("JOBSTORE_HOME") or ".jobstore").absolute(), database_url=url,
                       read_database_url=read_url, read_fallback=read_fallback == "primary",
                       database_schema=schema, projection_batch_size=int(batch), http_request_timeout=request_timeout,
                       http_keep_alive_timeout=keep_alive, http_max_connections=max_connections,
                       idempotency_records_per_key=records, watch_buffer=watch_buffer,
                       watch_heartbeat_seconds=heartbeat, log_name=log_name, log_tree=log_tree == "on",
                       log_signing_key=Path(signing_key).absolute() if signing_key else None)
        if url:
            settings.postgres()
        if read_url:
            settings.postgres(read_url)
        return settings

    @property
    def signing_key_path(self) -> Path:
        return self.log_signing_key or self.home / "log-signing.key"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "jobstore.sqlite3"

    def postgres(self, url: str | None = None) -> dict[str, str]:
        """The connection parameters of JOBSTORE_DATABASE_URL (or of `url`), as libpq takes them:
        postgresql://user:password@host:port/dbname; several servers as host1:port1,host2:port2 (libpq tries them
        in turn; add ?target_session_attrs=read-write to find the primary among them); or, for a server on this
        host reached through its Unix socket, postgresql://user@/dbname?host=/run/postgresql. Other libpq
        parameters in the query (sslmode, load_balance_hosts, ...) are kept."""
        url = url or self.database_url
        assert url
        name = "JOBSTORE_DATABASE_URL" if url == self.database_url else "JOBSTORE_READ_DATABASE_URL"
        scheme = url.partition("://")[0]
        try:
            parts = conninfo_to_dict(url) if scheme in ("postgresql", "postgres") else {}
        except Exception as error:  # noqa: BLE001 - psycopg says what is wrong in the URL
            raise SettingsError(f"{name} is not a connection URL libpq can read: {error}") from None
        host, dbname = str(parts.get("host") or ""), str(parts.get("dbname") or "")
        if not host.strip(",") or not dbname:
            raise SettingsError(
                f"{name} must look like postgresql://user:password@host:port/dbname, "
                "postgresql://user:password@host1:port1,host2:port2/dbname?target_session_attrs=read-write for "
                "several servers, or postgresql://user@/dbname?host=/run/postgresql for a Unix socket "
                f"(got scheme {scheme!r}, host {host!r}, database {dbname!r})")
        ports = str(parts.get("port") or "").split(",")
        hosts = host.split(",")
        if len(ports) == len(hosts) or len(ports) == 1:
            ports = [port or "5432" for port in ports]
        parameters = {"host": host, "port": ",".join(ports), "user": str(parts.get("user") or ""),
                      "password": str(parts.get("password") or ""), "dbname": dbname}
        return {**parameters, **{key: str(value) for key, value in parts.items() if key not in parameters}}


def _number(env: dict[str, str], name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    text = env.get(name) or str(default)
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        kind = "a whole number" if whole else "a number of seconds"
        raise SettingsError(f"{name}={text!r} must be {kind} from {low:g} to {high:g}")
    return value
