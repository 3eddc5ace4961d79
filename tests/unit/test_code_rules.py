"""The project's own rules, checked: the domain stays pure; lint and types stay clean."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"^\s*(import|from)\s+(psycopg|psycopg_pool|sqlite3|fastapi|starlette|uvicorn|"
                       r"jobstore\.adapters|jobstore\.projections)\b|os\.environ", re.MULTILINE)
PACKAGES = ("domain", "projections", "adapters")  # installed as jobstore.domain, jobstore.projections, ...


def test_the_domain_imports_no_storage_http_or_environment() -> None:
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "domain").rglob("*.py")
                 if FORBIDDEN.search(path.read_text())]
    assert offenders == []


def test_projections_hold_no_sql() -> None:
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE)\s+(\*|INTO|FROM|\w+\s+(SET|FROM))", re.IGNORECASE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "projections").rglob("*.py") if sql.search(p.read_text())]
    assert offenders == []


def test_lint_is_clean_and_forbids_the_bare_package_names() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    probe = "from domain.job import Job\nimport adapters.cli\nfrom projections import rows\n"
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--stdin-filename", "probe.py", "-"], cwd=ROOT,
                          input=probe, capture_output=True, text=True)
    assert done.stdout.count("TID251") == 3, done.stdout


def test_types_are_clean_under_mypy_strict(tmp_path: Path) -> None:
    """mypy reads the folders as the package they install as (jobstore.domain, ...), through links."""
    package = tmp_path / "jobstore"
    package.mkdir()
    for name in PACKAGES:
        (package / name).symlink_to(ROOT / name)
    checked = [arg for name in PACKAGES for arg in ("-p", f"jobstore.{name}")]
    done = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
                           "--cache-dir", str(tmp_path / "cache"), *checked], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|LISTEN|NOTIFY|WHERE|IN)\b")
# What may be spliced into SQL text: names of tables, columns and channels that jobstore itself chose, and
# runs of `?` placeholders. Request data always travels as parameters.
SPLICEABLE = re.compile(r"^(table|_SELECT|self\.table|self\.position|self\.events_table|self\.recorded_at|"
                        r"self\.backend\.stream_as_text|at|columns|column|column\.name|column\.index|listed|updates|"
                        r"clause|channel|size|order|where|cut|selected|page|CHANNEL|KEYS_CHANNEL|"
                        r"VIEW_POSITION|POSITION_OF_TABLE|backend\.bytes_type|placeholders|"
                        r"self\.TILE_COLUMNS|self\.TILE_UPSERT|' AND '\.join\(where\)|"
                        r"', '\.join\(names\)|"
                        r"', '\.join\('\?' \* len\([\w.]+\)\))$")


def test_sql_text_splices_in_only_names_jobstore_chose_never_request_data() -> None:
    import ast

    offenders = []
    for path in (ROOT / "adapters").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.JoinedStr):
                continue
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if not SQL_WORDS.search(text):
                continue
            for value in node.values:
                if isinstance(value, ast.FormattedValue) and not SPLICEABLE.match(ast.unparse(value.value)):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {{{ast.unparse(value.value)}}}")
    assert offenders == [], "SQL built from values that are not jobstore's own names:\n" + "\n".join(offenders)


def test_jobstore_processes_collect_garbage_less_often_and_switch_threads_sooner() -> None:
    probe = ("import gc, sys; from jobstore.adapters.runtime import tune_interpreter; tune_interpreter(); "
             "print(gc.get_threshold()[0], gc.get_freeze_count() > 0, sys.getswitchinterval())")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["50000", "True", "0.001"]


STORAGE = ROOT / "adapters" / "storage"
SQL_STATEMENT = re.compile(r"\b(SELECT\s+\S|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|(CREATE|DROP|ALTER)\s+"
                           r"(TABLE|INDEX|TRIGGER|SCHEMA|FUNCTION|OR REPLACE)|LISTEN\s|NOTIFY\s|pg_\w+\()")
TOPIC = re.compile(r"^(eventsourcing\.[\w.]+(:\w+)?|[\w.]+:[A-Z]\w*(\.\w+)*)$")
BACKEND_MODULES = {"sqlite3": {"sqlite.py"},
                   "psycopg": {"postgres.py", "postgres_lookups.py", "library.py", "standby.py"},
                   "psycopg_pool": {"postgres.py", "standby.py"}}
URL_PARSER = ("adapters/settings.py", "psycopg.conninfo")  # libpq's own reading of JOBSTORE_DATABASE_URL


def source_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def strings(path: Path) -> list[tuple[int, str]]:
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            found.append((node.lineno, text))
    return found


def test_no_sql_is_written_outside_the_storage_adapter() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}" for path in source_files()
                 if STORAGE not in path.parents for line, text in strings(path) if SQL_STATEMENT.search(text)]
    assert offenders == []


def test_no_library_topic_is_named_outside_the_storage_adapter() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{line}: {text!r}" for path in source_files()
                 if STORAGE not in path.parents for line, text in strings(path) if TOPIC.match(text)]
    assert offenders == []


def test_only_the_backend_strategies_know_which_store_they_run_on() -> None:
    """The store is chosen once (storage/backend.py: open_backend); only storage/sqlite.py and
    storage/postgres.py (with the library boundary, which extends the library's PostgreSQL recorder, the
    standbys' read route and the event loop's lookups) use a store's driver; nothing branches on a dialect.
    Settings read the database URL with libpq's own parser."""
    import ast

    offenders = []
    for path in source_files():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for module in modules:
                allowed = BACKEND_MODULES.get(module.split(".")[0])
                if allowed is not None and not (path.parent == STORAGE and path.name in allowed) and \
                        (path.relative_to(ROOT).as_posix(), module) != URL_PARSER:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: imports {module}")
            name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if name == "dialect" or (name == "database_url" and path.relative_to(ROOT).as_posix() not in (
                    "adapters/settings.py", "adapters/storage/backend.py")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert offenders == []


def test_every_package_folder_is_installed() -> None:
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {"jobstore." + init.parent.relative_to(ROOT).as_posix().replace("/", ".")
               for package in PACKAGES for init in (ROOT / package).rglob("__init__.py")}
    assert listed == folders
