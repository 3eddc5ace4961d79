"""The `jobstore` command: serve the API, manage API keys."""
from __future__ import annotations

import argparse
import contextlib
import faulthandler
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from jobstore.adapters.audit import parse_export
from jobstore.adapters.checkpoints import read_checkpoint, verify_export
from jobstore.adapters.core.access import Role
from jobstore.adapters.keys import key_name_problem
from jobstore.adapters.observability import read_server_note
from jobstore.adapters.operations import TREE_LAG_BUILT_FIRST, rebuild, tree_lag, view_status
from jobstore.adapters.progress import ProgressBar
from jobstore.adapters.runtime import Services, open_services, tune_interpreter
from jobstore.adapters.settings import Settings, SettingsError
from jobstore.adapters.storage.database import DatabaseUnavailable
from jobstore.domain.checkpoint import NoteRefused, Verifier
from jobstore.domain.enums import JobView
from jobstore.domain.errors import JobStoreError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jobstore", description="Event-sourced job state store. The store is SQLite in $JOBSTORE_HOME "
        "(default ./.jobstore) unless JOBSTORE_DATABASE_URL=postgresql://user:password@host:port/dbname is set.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP and gRPC APIs and the projections")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument("--grpc-port", type=int, default=50051,
                       help="port of the gRPC services, on --host (default 50051; 0: no gRPC)")
    serve.add_argument("--no-projections", action="store_true",
                       help="serve the API only; run `jobstore project` elsewhere to keep the views current")

    commands.add_parser("project", help="run the projections alone (one active worker per view on PostgreSQL; "
                                        "more workers wait as standbys)")
    commands.add_parser("status", help="per view: its position, the head of the log, and the lag")
    rebuild = commands.add_parser("rebuild", help="rebuild a view from the log while the current copy keeps "
                                                  "serving, then swap it in atomically")
    rebuild.add_argument("--view", choices=["basic", "full"], help="one view (default: both)")

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key; prints it alone on the last line")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--name", type=_key_name, help="a unique name for the key, printable, without surrounding "
                                                       "spaces (default: ROLE-xxxxxx)")
    key_commands.add_parser("list", help="list keys (names, roles, creation times; never the keys)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by name; takes effect at once")
    revoke.add_argument("name")

    audit = commands.add_parser("audit", help="history, verification, export and import of the event log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    history = audit_commands.add_parser("history", help="a job's events as a table")
    history.add_argument("job_id", metavar="JOB_ID")
    export = audit_commands.add_parser("export", help="write the global log as JSON Lines")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--after", type=int, default=0, metavar="POSITION", help="only events after this position")
    verify = audit_commands.add_parser("verify", help="recompute every hash chain and compare the views with the "
                                                      "log; exit 1 when anything is wrong")
    verify.add_argument("--job", metavar="JOB_ID", help="verify one job only")
    verify.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                        help="also prove that the log extends this saved checkpoint (repeatable)")
    verify.add_argument("--public-key", metavar="KEY", help="the verifier key the checkpoints must be signed by "
                                                            "(default: this store's)")
    load = audit_commands.add_parser("import", help="load an export into an empty store, checking every chain")
    load.add_argument("file", metavar="FILE")
    audit_commands.add_parser("public-key", help="print the verifier key of the log's checkpoints (last line)")
    checkpoint = audit_commands.add_parser("checkpoint", help="the log's signed checkpoint, to keep where the "
                                                              "operator cannot reach")
    checkpoint.add_argument("--out", metavar="FILE", help="file to write (default: standard output)")
    proof = audit_commands.add_parser("proof", help="an inclusion or consistency proof of the log's tree, as JSON")
    proofs = proof.add_subparsers(dest="proof_kind", required=True)
    inclusion = proofs.add_parser("inclusion", help="that the event at a position is in the tree")
    inclusion.add_argument("--position", type=int, required=True)
    inclusion.add_argument("--tree-size", type=int, help="default: the current tree")
    consistency = proofs.add_parser("consistency", help="that the tree extends an older one")
    consistency.add_argument("--from", dest="old_size", type=int, required=True, metavar="SIZE")
    consistency.add_argument("--to", dest="new_size", type=int, metavar="SIZE", help="default: the current tree")
    offline = audit_commands.add_parser("verify-export", help="check an export against saved checkpoints, without "
                                                              "a store; exit 1 when anything is wrong")
    offline.add_argument("file", metavar="EXPORT")
    offline.add_argument("--checkpoint", action="append", required=True, metavar="FILE",
                         help="a saved checkpoint (repeatable)")
    offline.add_argument("--public-key", required=True, metavar="KEY",
                         help="the log's verifier key, as `jobstore audit public-key` printed it")
    return parser


def _key_name(text: str) -> str:
    problem = key_name_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def _cell(value: object) -> str:
    """A stored value as a table shows it: every unprintable character (a terminal escape, a newline, a zero-width
    space) and the backslash written as Python escapes them, so that no value drives the terminal or breaks a
    row. Stores may hold such values from before they were refused (key names, request ids)."""
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(char if char.isprintable() and char != "\\" else char.encode("unicode_escape").decode("ascii")
                   for char in text)


def _project(services: Services) -> None:
    worker = services.start_projections()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print("jobstore projecting (views: BASIC, FULL; the log's Merkle tree with FULL); stop with Ctrl-C or SIGTERM",
          flush=True)
    held: tuple[JobView, ...] = ()
    building: ProgressBar | None = None
    while not stop.wait(1.0):
        now_held = worker.locks.current()
        if now_held != held:
            names = ", ".join(v.value for v in now_held) or "none (standing by)"
            print(f"active for: {names}", flush=True)
            held = now_held
        if JobView.FULL in held and services.settings.log_tree:  # an older store's tree: show its build
            reached, head = tree_lag(services)
            if building is None and head - reached > TREE_LAG_BUILT_FIRST:
                building = ProgressBar("building the log's Merkle tree")
            if building is not None:
                building(reached, head)
                if reached >= head:
                    building.finish()
                    building = None
    print("stopping: the batch in progress commits or rolls back whole", flush=True)


def _status(services: Services) -> None:
    print(f"{'VIEW':<15} {'TABLE':<32} {'POSITION':>10} {'HEAD':>10} {'LAG EVENTS':>10} {'LAG SECONDS':>11}")
    for s in view_status(services):
        print(f"{s.view.value:<15} {_cell(s.table):<32} {s.position:>10} {s.head:>10} {s.lag_events:>10} "
              f"{s.lag_seconds:>11.3f}")
    services.backend.read_server(probe=True)
    print(f"reads: {read_server_note(services)}")
    standbys = services.backend.standbys()
    if standbys:
        print(f"{'STANDBY':<15} {'ADDRESS':<32} {'STATE':>10} {'SYNC':>10} {'LAG BYTES':>10} {'LAG SECONDS':>11}")
    for standby in standbys:
        print(f"{_cell(standby.name):<15} {_cell(standby.address):<32} {standby.state:>10} {standby.sync_state:>10} "
              f"{standby.lag_bytes:>10} {standby.lag_seconds:>11.3f}")


def _audit(services: Services, args: argparse.Namespace) -> int:
    audit = services.audit
    if args.audit_command == "history":
        print(f"{'VER':>4} {'POSITION':>8} {'RECORDED AT':<27} {'TYPE':<22} {'ACTOR':<20} {'REQUEST ID':<32} "
              f"{'SERVER REQUEST ID':<32} {'HASH':<12} DATA")
        for recorded in audit.history(args.job_id):
            e = recorded.wire()
            data = json.dumps(e["data"], separators=(",", ":"))
            actor = _cell(f"{e['actor']['name']}/{e['actor']['role']}")
            print(f"{e['version']:>4} {e['position']:>8} {e['recordedAt']:<27} {e['type']:<22} {actor:<20} "
                  f"{_cell(e['requestId']):<32} {_cell(e.get('serverRequestId', '-')):<32} "
                  f"{_cell(e['hash'][:12]):<12} {data}")
        return 0
    if args.audit_command == "export":
        bar = ProgressBar("exporting")
        with (open(args.out, "w", encoding="utf-8") if args.out else contextlib.nullcontext(sys.stdout)) as out:
            count = audit.export(out, after=args.after, progress=bar)
        bar.finish()
        print(f"exported {count} events" + (f" to {args.out}" if args.out else ""), file=sys.stderr)
        return 0
    if args.audit_command == "verify":
        saved = []
        if args.checkpoint:
            verifier = (Verifier.parse(args.public_key) if args.public_key
                        else services.transparency.recorded_verifier())
            saved = [read_checkpoint(Path(path), verifier) for path in args.checkpoint]
        bar = ProgressBar("verifying jobs")
        problems = [str(problem) for problem in audit.verify(args.job, progress=bar)]
        bar.finish()
        if saved:
            bar = ProgressBar("checking the log against the checkpoints")
            problems += audit.verify_checkpoints(saved, progress=bar)
            bar.finish()
        for problem in problems:
            print(f"BROKEN {_cell(problem)}")
        checked = f"job {args.job!r}" if args.job else "every job"
        if problems:
            print(f"verify: {len(problems)} problem(s) found in {checked}", file=sys.stderr)
            return 1
        extends = f", and the log extends {len(saved)} saved checkpoint(s)" if saved else ""
        print(f"verify: {checked} holds: every hash chain recomputes and every view row equals the log{extends}")
        return 0
    if args.audit_command == "public-key":
        print("The log's checkpoints are signed by this key (C2SP signed-note verifier key):", file=sys.stderr)
        print(services.transparency.verifier)
        return 0
    if args.audit_command == "checkpoint":
        note = services.transparency.checkpoint()
        if args.out:
            try:
                Path(args.out).write_text(note, encoding="utf-8")
            except OSError as error:
                print(f"jobstore: cannot write {args.out}: {error}", file=sys.stderr)
                return 2
            print(f"saved the checkpoint of {note.splitlines()[1]} events to {args.out}", file=sys.stderr)
        else:
            sys.stdout.write(note)
        return 0
    if args.audit_command == "proof":
        log = services.transparency
        proved = (log.inclusion(args.position, args.tree_size) if args.proof_kind == "inclusion"
                  else log.consistency(args.old_size, args.new_size))
        print(json.dumps(proved.wire(), indent=2))
        return 0
    path = Path(args.file)
    if not path.is_file():
        print(f"jobstore: {path} is not a file", file=sys.stderr)
        return 2
    total = sum(1 for line in _json_lines(path) if line.strip())
    bar = ProgressBar("importing")
    count = audit.import_(lambda: _json_lines(path), progress=bar, total=total)
    bar.finish()
    bar = ProgressBar("building views")
    services.engine.catch_up(progress=bar)
    bar.finish()
    print(f"imported {count} events from {path}; the views are built")
    return 0


def _verify_export(args: argparse.Namespace) -> int:
    """An export checked against saved checkpoints with nothing but the verifier key: no store is opened."""
    try:
        verifier = Verifier.parse(args.public_key)
        saved = [read_checkpoint(Path(path), verifier) for path in args.checkpoint]
        path = Path(args.file)
        problems = verify_export(((position, event) for _, position, event in parse_export(_json_lines(path))),
                                 saved)
    except (NoteRefused, JobStoreError) as error:
        print(f"jobstore: {error}", file=sys.stderr)
        return 2
    except (OSError, UnicodeDecodeError) as error:
        print(f"jobstore: cannot read {args.file} as a jobstore export (UTF-8 JSON Lines): {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(f"BROKEN {_cell(problem)}")
    if problems:
        print(f"verify-export: {len(problems)} problem(s) found in {args.file}", file=sys.stderr)
        return 1
    sizes = ", ".join(str(s.checkpoint.size) for s in saved)
    print(f"verify-export: every hash chain of {args.file} recomputes and it extends the checkpoint(s) of tree "
          f"size {sizes}")
    return 0


def _json_lines(path: Path) -> list[str]:
    """The lines of a JSON Lines file. Only a newline ends one: str.splitlines would also split at U+2028,
    U+0085, U+001C and others, which an export writes raw inside its strings (non-ASCII as itself)."""
    return path.read_text(encoding="utf-8").split("\n")


def main(argv: Sequence[str] | None = None) -> int:
    faulthandler.enable()  # should the process ever die in C code, say where
    tune_interpreter()
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    access = logging.getLogger("jobstore.access")  # one JSON object per line, nothing around it
    access.propagate = False
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    if args.command == "audit" and args.audit_command == "verify-export":
        return _verify_export(args)
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
            from jobstore.adapters.serving import serve
            return serve(services, args.host, args.port, args.grpc_port, projections=not args.no_projections)
        elif args.command == "project":
            _project(services)
        elif args.command == "status":
            _status(services)
        elif args.command == "rebuild":
            chosen = [JobView.BASIC, JobView.FULL] if args.view is None else [JobView(f"JOB_VIEW_{args.view.upper()}")]
            for view in chosen:
                bar = ProgressBar(f"rebuilding {view.value}")
                old, new = rebuild(services, view, progress=bar)
                bar.finish()
                print(f"{view.value}: now served by {new} (rebuilt from the log); dropped {old}")
        elif args.command == "audit":
            return _audit(services, args)
        elif args.keys_command == "create":
            name, key = services.keys.create(Role(args.role), args.name)
            print(f"Created {args.role} key {name!r}. Keep it safe; it cannot be shown again:", file=sys.stderr)
            print(key)
        elif args.keys_command == "list":
            rows = services.keys.all()
            print(f"{'NAME':<24} {'ROLE':<8} {'CREATED':<28} REVOKED")
            for info in rows:
                print(f"{_cell(info.name):<24} {info.role.value:<8} {_cell(info.created_at):<28} "
                      f"{_cell(info.revoked_at or '')}")
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
