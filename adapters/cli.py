"""The `jobstore` command: serve the API, manage API keys."""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from adapters.keys import Role
from adapters.runtime import Services, open_services
from adapters.settings import Settings, SettingsError
from adapters.storage.database import DatabaseUnavailable
from domain.errors import JobStoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobstore", description="Event-sourced job state store. The store is SQLite in $JOBSTORE_HOME "
        "(default ./.jobstore) unless JOBSTORE_DATABASE_URL=postgresql://user:password@host:port/dbname is set.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API and the projections")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", help="a unique name for the key (default: ROLE-xxxxxx)")
    key_commands.add_parser("list", help="list keys (names, roles, creation times; never the keys)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by name; takes effect at once")
    revoke.add_argument("name")
    return parser


def _serve(services: Services, host: str, port: int) -> None:
    import uvicorn

    from adapters.http.app import create_app

    if not services.keys.any_active():
        name, key = services.keys.create(Role.ADMIN, "admin")
        print(f"No API key existed, so an admin key named {name!r} was created. It is shown only this once:",
              flush=True)
        print(key, flush=True)
    services.start_projections()
    where = (services.settings.database_url and "PostgreSQL") or f"SQLite at {services.settings.sqlite_path}"
    print(f"jobstore serving on http://{host}:{port} (store: {where}); stop with Ctrl-C", flush=True)
    uvicorn.run(create_app(services), host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_environment()
        services = open_services(settings)
    except SettingsError as e:
        print(f"jobstore: {e}", file=sys.stderr)
        return 2
    except (DatabaseUnavailable, OSError, Exception) as e:  # noqa: BLE001 - say what happened, not a traceback
        print(f"jobstore: cannot open the store: {e}\nCheck JOBSTORE_DATABASE_URL / JOBSTORE_HOME.", file=sys.stderr)
        return 1
    try:
        if args.command == "serve":
            _serve(services, args.host, args.port)
        elif args.keys_command == "create":
            name, key = services.keys.create(Role(args.role), args.name)
            print(f"Created {args.role} key {name!r}. Keep it safe; it cannot be shown again:", file=sys.stderr)
            print(key)
        elif args.keys_command == "list":
            rows = services.keys.list()
            print(f"{'NAME':<24} {'ROLE':<8} {'CREATED':<28} REVOKED")
            for info in rows:
                print(f"{info.name:<24} {info.role.value:<8} {info.created_at:<28} {info.revoked_at or ''}")
        elif args.keys_command == "revoke":
            services.keys.revoke(args.name)
            print(f"Revoked key {args.name!r}.")
    except JobStoreError as e:
        print(f"jobstore: {e.message}", file=sys.stderr)
        return 1
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
