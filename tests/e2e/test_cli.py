"""The `jobstore` command: API keys (create, list, revoke, stored hashed) and the first start of `serve`."""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import BACKENDS, unique
from tests.e2e.conftest import Keys, store_location
from tests.e2e.server import Server

KEY_LINE = re.compile(r"^jsk_[0-9a-f]+_[A-Za-z0-9_-]{20,}$")
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
IMAGE = "JOB_TYPE_IMAGE_BUILDER"


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and 'File "' not in text, text


def create(server: Server, *args: str) -> tuple[str, str]:
    """Run `keys create ARGS`; returns (key, stdout)."""
    done = server.cli("keys", "create", *args)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, f"nothing on stdout; stderr: {done.stderr}"
    assert KEY_LINE.match(lines[-1]), f"the last stdout line is not a key alone: {lines[-1]!r}"
    return lines[-1], done.stdout


def list_keys(server: Server) -> str:
    done = server.cli("keys", "list")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stdout, done.stderr)
    assert "jsk_" not in done.stdout + done.stderr, "keys list shows a key"
    return done.stdout


def line_of(listing: str, name: str) -> str:
    lines = [line for line in listing.splitlines() if line.split() and line.split()[0] == name]
    assert len(lines) == 1, f"{name!r} is listed {len(lines)} times in:\n{listing}"
    return lines[0]


def stored_api_keys(server: Server) -> list[tuple[Any, ...]]:
    """Every row of the api_keys table, read straight from the store."""
    url = server.env.get("JOBSTORE_DATABASE_URL")
    if url is None:
        with sqlite3.connect(Path(server.env["JOBSTORE_HOME"]) / "jobstore.sqlite3") as conn:
            return list(conn.execute("SELECT * FROM api_keys"))
    schema = server.env.get("JOBSTORE_DATABASE_SCHEMA", "public")
    with psycopg.connect(url) as conn:
        return list(conn.execute(sql.SQL("SELECT * FROM {}.api_keys").format(sql.Identifier(schema))))


# --- keys create


@pytest.mark.parametrize("role", ["reader", "writer", "auditor", "admin"])
def test_keys_create_prints_a_key_for_the_role_alone_on_the_last_stdout_line(server: Server, role: str) -> None:
    key, _ = create(server, "--role", role)
    read = server.call("GET", "/v1/jobs?pageSize=1", key=key)
    assert read.status == 200, read.body
    write = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": unique("cli"), "jobType": IMAGE}}, key=key)
    assert write.status == (200 if role in ("writer", "admin") else 403), write.body


def test_keys_create_without_a_name_gives_each_key_its_own_default_name_and_role(server: Server) -> None:
    before = set(list_keys(server).split())
    first, _ = create(server, "--role", "auditor")
    second, _ = create(server, "--role", "auditor")
    assert first != second
    added = [line for line in list_keys(server).splitlines() if line.split() and line.split()[0] not in before]
    assert len(added) == 2 and [line.split()[1] for line in added] == ["auditor", "auditor"], added
    assert added[0].split()[0] != added[1].split()[0]


def test_a_duplicate_key_name_is_refused_with_a_clear_message(server: Server) -> None:
    name = unique("ci-agent")
    key, _ = create(server, "--role", "writer", "--name", name)
    again = server.cli("keys", "create", "--role", "admin", "--name", name)
    assert again.returncode != 0
    no_traceback(again.stdout, again.stderr)
    assert "jsk_" not in again.stdout + again.stderr, "a refused create printed a key"
    message = again.stderr + again.stdout
    assert name in message and ("exist" in message.lower() or "already" in message.lower()), message
    assert line_of(list_keys(server), name).split()[1] == "writer"
    assert server.call("GET", "/v1/jobs?pageSize=1", key=key).status == 200


def test_keys_create_refuses_an_unknown_role(server: Server) -> None:
    done = server.cli("keys", "create", "--role", "superuser")
    assert done.returncode != 0 and "jsk_" not in done.stdout
    assert "role" in done.stderr and "reader" in done.stderr, done.stderr


UNPRINTABLE_NAMES = ["adm\x1b[31min", "adm\nin", "adm\u200bin", " admin", "admin ", "\tadmin", "adm\x85in",
                     "adm\u202ein", ""]


@pytest.mark.parametrize("name", UNPRINTABLE_NAMES, ids=["escape", "newline", "zero-width-space", "leading-space",
                                                         "trailing-space", "tab", "c1-control", "right-to-left",
                                                         "empty"])
def test_keys_create_refuses_a_name_with_an_unprintable_character_or_surrounding_spaces(
        server: Server, name: str) -> None:
    done = server.cli("keys", "create", "--role", "admin", "--name", name)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    no_traceback(done.stdout, done.stderr)
    assert "--name" in done.stderr, done.stderr
    assert "jsk_" not in done.stdout + done.stderr, "a refused create printed a key"
    assert all(name not in map(str, row) for row in stored_api_keys(server))


def test_keys_create_accepts_a_printable_name_with_inner_spaces_and_non_ascii_letters(server: Server) -> None:
    name = unique("Opérateur Zoë ü")
    create(server, "--role", "reader", "--name", name)
    assert any(name in map(str, row) for row in stored_api_keys(server))


def rename_key(server: Server, old: str, new: str) -> None:
    """Rename a key straight in the store, as an earlier version let `keys create --name` name it."""
    url = server.env.get("JOBSTORE_DATABASE_URL")
    if url is None:
        with sqlite3.connect(Path(server.env["JOBSTORE_HOME"]) / "jobstore.sqlite3") as conn:
            conn.execute("UPDATE api_keys SET name = ? WHERE name = ?", (new, old))
        return
    schema = server.env.get("JOBSTORE_DATABASE_SCHEMA", "public")
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("UPDATE {}.api_keys SET name = %s WHERE name = %s").format(sql.Identifier(schema)),
                     (new, old))


def test_tables_escape_the_unprintable_characters_of_a_name_an_earlier_version_let_in(server: Server) -> None:
    plain = unique("old-key")
    key, _ = create(server, "--role", "writer", "--name", plain)
    stored = f"{plain}\x1b[31m\nFORGED ROW\u200b\\"
    rename_key(server, plain, stored)
    job_id = unique("old-key-job")
    assert server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=key).status == 200
    shown = f"{plain}\\x1b[31m\\nFORGED ROW\\u200b\\\\"
    listing = list_keys(server)
    history = server.cli("audit", "history", job_id)
    assert history.returncode == 0, history.stderr
    for table in (listing, history.stdout):
        assert "\x1b" not in table and "\u200b" not in table, table
        assert shown in table, table
        assert not any(line.startswith("FORGED ROW") for line in table.splitlines()), table
    assert len(history.stdout.strip().splitlines()) == 2, history.stdout


# --- keys list


def test_keys_list_shows_names_roles_and_creation_times_and_never_a_key(server: Server, keys: Keys) -> None:
    named = {unique("lister"): role for role in ("reader", "admin")}
    secrets = [create(server, "--role", role, "--name", name)[0] for name, role in named.items()]
    listing = list_keys(server)
    for name, role in named.items():
        line = line_of(listing, name)
        assert line.split()[1] == role
        assert RFC3339_UTC.search(line), f"no creation time in {line!r}"
    for secret in [*secrets, keys.admin, keys.writer, keys.reader, keys.auditor]:
        assert secret not in listing and secret.split("_", 2)[2] not in listing


# --- keys revoke


def test_keys_revoke_marks_the_key_revoked_in_the_list_and_it_stops_working(server: Server) -> None:
    name = unique("to-revoke")
    key, _ = create(server, "--role", "reader", "--name", name)
    assert server.call("GET", "/v1/jobs?pageSize=1", key=key).status == 200
    done = server.cli("keys", "revoke", name)
    assert done.returncode == 0, done.stderr
    assert name in done.stdout + done.stderr
    line = line_of(list_keys(server), name)
    assert len(RFC3339_UTC.findall(line)) == 2, f"no revocation time in {line!r}"
    assert server.call("GET", "/v1/jobs?pageSize=1", key=key).status == 401


def test_revoking_an_unknown_or_already_revoked_key_fails_with_a_clear_message(server: Server) -> None:
    missing = unique("nobody")
    done = server.cli("keys", "revoke", missing)
    assert done.returncode != 0 and missing in done.stderr + done.stdout
    no_traceback(done.stdout, done.stderr)

    name = unique("twice")
    create(server, "--role", "reader", "--name", name)
    assert server.cli("keys", "revoke", name).returncode == 0
    again = server.cli("keys", "revoke", name)
    assert again.returncode != 0 and name in again.stderr + again.stdout
    no_traceback(again.stdout, again.stderr)


# --- keys are stored hashed


def test_keys_are_stored_hashed_so_no_key_text_is_in_the_store(server: Server, keys: Keys) -> None:
    name = unique("hashed")
    key, _ = create(server, "--role", "admin", "--name", name)
    secret = key.split("_", 2)[2]
    rows = stored_api_keys(server)
    assert any(name in map(str, row) for row in rows), "the key's row is not in api_keys"
    for row in rows:
        for value in row:
            text = value.hex() if isinstance(value, bytes | bytearray | memoryview) else str(value)
            for known in (key, keys.admin, keys.writer, keys.reader, keys.auditor):
                known_secret = known.split("_", 2)[2]
                assert known not in text and known_secret not in text, f"a key is stored in clear: {row}"
    if server.env.get("JOBSTORE_DATABASE_URL") is None:
        home = Path(server.env["JOBSTORE_HOME"])
        for path in home.glob("jobstore.sqlite3*"):
            assert secret.encode() not in path.read_bytes(), f"the key's secret is in {path.name}"


# --- serve on a store without keys


@pytest.fixture(params=BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A store that has never been opened, and a server for it that is not started."""
    with store_location(request.param) as (url, schema):
        server = Server(tmp_path / "home", url, schema)
        yield server
        server.stop()


def test_serve_on_a_store_without_keys_prints_an_admin_key_once_and_not_on_the_next_start(
        empty_store: Server) -> None:
    server = empty_store.start()
    first_log = server.log()
    printed = [line.strip() for line in first_log.splitlines() if "jsk_" in line]
    assert len(printed) == 1 and KEY_LINE.match(printed[0]), first_log
    admin = printed[0]
    job_id = unique("first-start")
    created = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}}, key=admin)
    assert created.status == 200, created.body
    listing = list_keys(server)
    assert [line.split()[1] for line in listing.splitlines()[1:] if line.strip()] == ["admin"]

    server.stop()
    server.start()
    second_log = server.log()
    assert "jsk_" not in second_log, f"a second start printed a key:\n{second_log}"
    assert server.call("GET", "/v1/jobs?pageSize=1", key=admin).status == 200, "the first key stopped working"
    seen = server.eventually(f"/v1/jobs/{job_id}", admin, lambda r: r.status == 200)
    assert seen.status == 200 and seen.body["job"]["jobId"] == job_id
    assert len([line for line in list_keys(server).splitlines()[1:] if line.strip()]) == 1
