"""`jobstore audit`: history as a table, verify, export as JSON Lines and import into an empty store.

An export imported into a new store (a new JOBSTORE_HOME on SQLite, a new schema on PostgreSQL) must give back
the same jobs and the same hash chains. Import checks every chain: a file whose content was changed is refused,
naming the line, and an import refused half-way must leave the store as empty as it found it.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import drop_schema, unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok
from tests.e2e.server import upsert as upsert_job

GENESIS = "0" * 64
STRESS, CONTINUOUS, FILE_SCAN, IMAGE = ("JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST",
                                        "JOB_TYPE_FILE_SCAN", "JOB_TYPE_IMAGE_BUILDER")
TERMINAL = {"JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"}
EVENT_FIELDS = {"version", "type", "recordedAt", "actor", "requestId", "serverRequestId", "data", "hash",
                "prevHash", "position", "jobId"}


# --- helpers


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text and 'File "' not in text, text


def upsert(server: Server, key: str, job: dict[str, Any], mask: dict[str, Any] | None = None) -> Reply:
    return ok(upsert_job(server, key, job, mask))


def events_of(server: Server, auditor: str, job_id: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = ok(server.call("GET", f"/v1/jobs/{job_id}/events", key=auditor)).body["events"]
    return events


def read_lines(path: Path) -> list[dict[str, Any]]:
    """JSON Lines: only a newline ends a line (str.splitlines would also split at U+2028, U+0085, ...)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def write_lines(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events),
                    encoding="utf-8")
    return path


def export_to(server: Server, path: Path, *args: str) -> list[dict[str, Any]]:
    done = server.cli("audit", "export", "--out", str(path), *args)
    assert done.returncode == 0, done.stderr
    no_traceback(done.stdout, done.stderr)
    return read_lines(path)


def without_position(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "position"} for e in events]


def event_hash(event: dict[str, Any]) -> str:
    """The documented canonical encoding (domain/chain.py), recomputed here."""
    record = {k: event[k] for k in ("actor", "data", "jobId", "prevHash", "recordedAt", "requestId",
                                    "serverRequestId", "type", "version") if k in event}
    return hashlib.sha256(json.dumps(record, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode("utf-8")).hexdigest()


def synthetic_export(jobs: int, prefix: str) -> list[dict[str, Any]]:
    """A valid export written by hand: `jobs` image builds, each Created then moved to PENDING."""
    base, events = datetime(2026, 1, 1, tzinfo=UTC), []
    for i in range(jobs):
        job_id, prev = f"{prefix}-{i}", GENESIS
        created = base + timedelta(seconds=i)
        stamp = created.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for version, (kind, data, at) in enumerate([
                ("Created", {"jobId": job_id, "jobType": IMAGE, "status": "JOB_STATUS_REQUESTED",
                             "creationTime": stamp, "cancellationRequested": False}, created),
                ("Upserted", {"status": "JOB_STATUS_PENDING"}, created + timedelta(milliseconds=5))], start=1):
            event = {"position": len(events) + 1, "jobId": job_id, "version": version, "type": kind,
                     "recordedAt": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                     "actor": {"name": "synthetic-writer", "role": "writer"}, "requestId": f"req-{i}-{version}",
                     "data": data, "prevHash": prev}
            event["hash"] = prev = event_hash(event)
            events.append(event)
    return events


def store_rows(server: Server, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL straight on a server's store (its SQLite file, or its PostgreSQL schema)."""
    url = server.env.get("JOBSTORE_DATABASE_URL")
    if url is None:
        conn = sqlite3.connect(Path(server.env["JOBSTORE_HOME"]) / "jobstore.sqlite3")
        try:
            rows = list(conn.execute(statement, params))
            conn.commit()
        finally:
            conn.close()
        return rows
    schema = server.env.get("JOBSTORE_DATABASE_SCHEMA", "public")
    with psycopg.connect(url, options=f"-c search_path={schema}", autocommit=True) as pg:
        cursor = pg.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
        return list(cursor.fetchall()) if cursor.description else []


def view_table(store: Server, view: str) -> str:
    """The table that serves `view` (the store keeps a registry of them, so that a rebuilt copy can be swapped in)."""
    rows = store_rows(store, "SELECT table_name FROM view_tables WHERE view_name = ?", (view,))
    assert len(rows) == 1, rows
    return str(rows[0][0])


def view_position(store: Server, view: str) -> int:
    rows = store_rows(store, "SELECT position FROM projection_positions WHERE table_name = ?",
                      (view_table(store, view),))
    return int(rows[0][0])


def comparable(job: dict[str, Any]) -> dict[str, Any]:
    """A GetJob document without what depends on the time it is read (runningTimeSecs of a job still going)."""
    shown = dict(job)
    if shown["status"] not in TERMINAL:
        shown.pop("runningTimeSecs")
    return shown


# --- fixtures


@pytest.fixture(scope="module")
def jobs(server: Server, keys: Keys) -> list[str]:
    """Jobs of every type and fate, written over HTTP: running, succeeded, failed, cancelled."""
    w = keys.writer
    stress, continuous, scan, image, cancelled = (unique(p) for p in ("cli-stress", "cli-ct", "cli-scan",
                                                                        "cli-image", "cli-cancelled"))
    upsert(server, w, {"jobId": stress, "jobType": STRESS, "jobData": {"stress": {
        "projectId": {"uuid": "p-1"}, "testRunId": "run-1"}}})
    upsert(server, w, {"jobId": stress, "status": "JOB_STATUS_PENDING"}, {"status": True})
    upsert(server, w, {"jobId": stress, "status": "JOB_STATUS_RUNNING", "agentId": {"uuid": "agent-1"}},
           {"status": True, "agentId": True})
    upsert(server, w, {"jobId": stress, "jobData": {"stress": {"progress": {"testRun": {
        "testRunId": "run-1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
            {"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"},
            {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"}]}}}}},
           {"jobData": {"stress": {"progress": True}}})
    upsert(server, w, {"jobId": continuous, "jobType": CONTINUOUS, "status": "JOB_STATUS_PENDING", "jobData": {
        "continuousInc": {"firewallId": "fw-1", "ctTestRunIds": ["ct-1", "ct-2"]}}})
    upsert(server, w, {"jobId": continuous, "jobData": {"continuousInc": {"progress": {"testRuns": [
        {"testRun": {"testRunId": "ct-1", "status": "TEST_TASK_STATUS_COMPLETED"},
         "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-02T00:00:00Z"}]}}}},
           {"jobData": {"continuousInc": {"progress": True}}})
    upsert(server, w, {"jobId": scan, "jobType": FILE_SCAN, "jobData": {"fileScan": {
        "projectId": {"uuid": "p-1"}, "fileScanId": "scan-1"}}})
    for status in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_SUCCEEDED"):
        upsert(server, w, {"jobId": scan, "status": status}, {"status": True})
    upsert(server, w, {"jobId": image, "jobType": IMAGE})
    ok(server.call("POST", f"/v1/jobs/{image}:fail", {"terminationReason": "TERMINATION_REASON_OOMKILLED",
                                                      "errorMsg": "mémoire épuisée ✗"}, key=w))
    upsert(server, w, {"jobId": image, "archivedJobLogs": {"url": {"url": "https://logs.example/1"},
                                                           "expirationTime": "2027-01-01T00:00:00Z"}},
           {"archivedJobLogs": True})
    upsert(server, w, {"jobId": cancelled, "jobType": IMAGE, "status": "JOB_STATUS_PENDING"})
    ok(server.call("POST", f"/v1/jobs/cancel/{cancelled}", key=w))
    ok(server.call("POST", f"/v1/jobs/{cancelled}:finalizeCancellation", key=w))
    return [stress, continuous, scan, image, cancelled]


@pytest.fixture
def new_store(server: Server, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Empty stores on the module server's backend: a new home on SQLite, a new schema on PostgreSQL."""
    url = server.env.get("JOBSTORE_DATABASE_URL")
    made: list[tuple[Server, str | None]] = []

    def make() -> Server:
        home = tmp_path / f"store-{len(made)}"
        schema = f"imp_{uuid.uuid4().hex[:12]}" if url else None
        store = Server(home, url, schema)
        made.append((store, schema))
        return store

    yield make
    for store, schema in made:
        store.stop()
        if url and schema:
            drop_schema(url, schema)


# --- history and verify


def test_audit_history_prints_a_table_row_for_every_version_with_its_type(
        server: Server, keys: Keys, jobs: list[str]) -> None:
    for job_id in jobs:
        done = server.cli("audit", "history", job_id)
        assert done.returncode == 0, done.stderr
        no_traceback(done.stdout, done.stderr)
        lines = done.stdout.strip().splitlines()
        header, rows = lines[0].split(), lines[1:]
        assert "VER" in header and "TYPE" in header, lines[0]
        events = events_of(server, keys.auditor, job_id)
        assert len(rows) == len(events), done.stdout
        for row, event in zip(rows, events, strict=True):
            cells = row.split()
            assert cells[0] == str(event["version"]), row
            assert event["type"] in cells and event["hash"][:12] in cells, row
            assert f"{event['actor']['name']}/{event['actor']['role']}" in row, row
            assert event["requestId"] in cells and event["serverRequestId"] in cells, row


def test_audit_history_escapes_what_earlier_versions_stored_unprintable(
        new_store: Callable[[], Server], tmp_path: Path) -> None:
    """Request ids and key names were stored as given before they were limited: a terminal escape, a tab, a C1
    control or a newline in one is shown escaped, on its own row."""
    events = synthetic_export(1, unique("cli-unprintable"))
    for event, (name, request_id) in zip(events, [("old\x1b[2Jname", "tab\there\x85"),
                                                   ("old\u200bname", 'x","actor":{"name":"admin"}\nforged')],
                                         strict=True):
        event["actor"]["name"], event["requestId"] = name, request_id
    prev = GENESIS
    for event in events:
        event["prevHash"] = prev
        event["hash"] = prev = event_hash(event)
    store = new_store()
    imported = store.cli("audit", "import", str(write_lines(tmp_path / "old.jsonl", events)))
    assert imported.returncode == 0, imported.stderr
    done = store.cli("audit", "history", events[0]["jobId"])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 3, done.stdout
    for unprintable in ("\x1b", "\t", "\x85", "\u200b"):
        assert unprintable not in done.stdout, done.stdout
    assert "old\\x1b[2Jname/writer" in lines[1] and "tab\\there\\x85" in lines[1], lines[1]
    assert "old\\u200bname/writer" in lines[2] and '"admin"}\\nforged' in lines[2], lines[2]


def test_audit_history_of_a_job_that_does_not_exist_exits_non_zero_saying_so(server: Server) -> None:
    ghost = unique("cli-ghost")
    done = server.cli("audit", "history", ghost)
    assert done.returncode != 0
    no_traceback(done.stdout, done.stderr)
    assert ghost in done.stderr and "does not exist" in done.stderr, done.stderr


def test_audit_verify_exits_zero_on_a_healthy_store(server: Server, jobs: list[str]) -> None:
    everything = server.cli("audit", "verify")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "BROKEN" not in everything.stdout and "holds" in everything.stdout
    one = server.cli("audit", "verify", "--job", jobs[0])
    assert one.returncode == 0, one.stdout + one.stderr
    assert jobs[0] in one.stdout


def test_audit_verify_exits_one_and_names_the_job_when_a_view_disagrees_with_the_log(
        new_store: Callable[[], Server], tmp_path: Path) -> None:
    store, prefix = new_store(), unique("cli-verify")
    imported = store.cli("audit", "import", str(write_lines(tmp_path / "two.jsonl", synthetic_export(2, prefix))))
    assert imported.returncode == 0, imported.stderr
    assert store.cli("audit", "verify").returncode == 0
    victim = f"{prefix}-1"
    table = view_table(store, "JOB_VIEW_BASIC")
    rows = store_rows(store, f"SELECT document FROM {table} WHERE job_id = ?", (victim,))
    assert len(rows) == 1, rows
    changed = {**json.loads(rows[0][0]), "status": "JOB_STATUS_RUNNING"}
    store_rows(store, f"UPDATE {table} SET document = ? WHERE job_id = ?", (json.dumps(changed), victim))
    done = store.cli("audit", "verify")
    assert done.returncode == 1, done.stdout + done.stderr
    no_traceback(done.stdout, done.stderr)
    broken = [line for line in done.stdout.splitlines() if line.startswith("BROKEN")]
    assert broken and all(victim in line for line in broken), done.stdout
    assert any("status" in line for line in broken), done.stdout
    assert store.cli("audit", "verify", "--job", f"{prefix}-0").returncode == 0


# --- export


def test_export_to_standard_output_writes_only_json_lines_and_reports_progress_on_stderr(
        server: Server, jobs: list[str]) -> None:
    done = server.cli("audit", "export")
    assert done.returncode == 0, done.stderr
    no_traceback(done.stdout, done.stderr)
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert events and all(set(e) == EVENT_FIELDS for e in events)
    assert {e["jobId"] for e in events} >= set(jobs)
    assert "exporting" in done.stderr, done.stderr
    assert f"exported {len(events)} events" in done.stderr, done.stderr
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)


def test_export_after_a_position_holds_only_the_later_events(
        server: Server, jobs: list[str], tmp_path: Path) -> None:
    everything = export_to(server, tmp_path / "all.jsonl")
    middle = everything[len(everything) // 2]["position"]
    later = export_to(server, tmp_path / "later.jsonl", "--after", str(middle))
    assert later == [e for e in everything if e["position"] > middle]
    assert later and len(later) < len(everything)
    nothing = server.cli("audit", "export", "--after", str(everything[-1]["position"]))
    assert nothing.returncode == 0 and nothing.stdout.strip() == "", nothing.stdout
    assert "exported 0 events" in nothing.stderr


def test_export_lines_are_the_events_the_http_history_shows(
        server: Server, keys: Keys, jobs: list[str], tmp_path: Path) -> None:
    exported = export_to(server, tmp_path / "all.jsonl")
    for job_id in jobs:
        assert [e for e in exported if e["jobId"] == job_id] == events_of(server, keys.auditor, job_id)


# --- import


def test_an_export_imported_into_an_empty_store_reproduces_every_job_and_every_hash(
        server: Server, keys: Keys, jobs: list[str], new_store: Callable[[], Server], tmp_path: Path) -> None:
    exported = export_to(server, tmp_path / "log.jsonl")
    target = new_store()
    done = target.cli("audit", "import", str(tmp_path / "log.jsonl"))
    assert done.returncode == 0, done.stdout + done.stderr
    no_traceback(done.stdout, done.stderr)
    assert f"imported {len(exported)} events" in done.stdout, done.stdout
    job_ids = list(dict.fromkeys(e["jobId"] for e in exported))

    # the views are built by the import itself, before any server runs on the new store
    again = export_to(target, tmp_path / "again.jsonl")
    assert without_position(again) == without_position(exported)
    last = again[-1]["position"]
    for view in ("JOB_VIEW_BASIC", "JOB_VIEW_FULL"):
        assert view_position(target, view) == last, view
        assert store_rows(target, f"SELECT COUNT(*) FROM {view_table(target, view)}")[0][0] == len(job_ids), view
    verified = target.cli("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    reader, auditor = target.key("reader"), target.key("auditor")
    target.start()
    for job_id in job_ids:
        for view in ("JOB_VIEW_BASIC", "JOB_VIEW_FULL"):
            original = ok(server.call("GET", f"/v1/jobs/{job_id}?view={view}", key=keys.reader)).body["job"]
            copy = ok(target.call("GET", f"/v1/jobs/{job_id}?view={view}", key=reader)).body["job"]
            assert comparable(copy) == comparable(original), (job_id, view)
        original_history = events_of(server, keys.auditor, job_id)
        copied_history = events_of(target, auditor, job_id)
        assert [e["hash"] for e in copied_history] == [e["hash"] for e in original_history]
        assert without_position(copied_history) == without_position(original_history)


def test_an_export_with_unicode_line_separators_inside_its_strings_imports(
        server: Server, keys: Keys, new_store: Callable[[], Server], tmp_path: Path) -> None:
    """Exports write non-ASCII as itself, so U+2028, U+0085 and U+001C stand raw inside a line's strings; only
    a newline ends a line."""
    job_id = unique("cli-separators")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE})
    ok(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR",
                                                       "errorMsg": "one\u2028two\x85three\x1cfour"}, key=keys.writer))
    exported = export_to(server, tmp_path / "log.jsonl")
    target = new_store()
    done = target.cli("audit", "import", str(tmp_path / "log.jsonl"))
    assert done.returncode == 0, done.stderr
    assert f"imported {len(exported)} events" in done.stdout, done.stdout
    assert without_position(export_to(target, tmp_path / "again.jsonl")) == without_position(exported)


def test_import_into_a_store_that_holds_events_is_refused_with_a_clear_message(
        server: Server, jobs: list[str], tmp_path: Path) -> None:
    exported = export_to(server, tmp_path / "log.jsonl")
    done = server.cli("audit", "import", str(tmp_path / "log.jsonl"))
    assert done.returncode != 0
    no_traceback(done.stdout, done.stderr)
    assert "empty" in done.stderr and "already holds events" in done.stderr, done.stderr
    assert len(export_to(server, tmp_path / "after.jsonl")) == len(exported)


def test_import_refuses_a_line_whose_data_was_changed_and_names_the_line(
        server: Server, jobs: list[str], new_store: Callable[[], Server], tmp_path: Path) -> None:
    exported = export_to(server, tmp_path / "log.jsonl")
    number = next(n for n, e in enumerate(exported, start=1)
                  if n > 1 and e["type"] == "Upserted" and e["data"].get("status") == "JOB_STATUS_PENDING")
    tampered = json.loads(json.dumps(exported))
    tampered[number - 1]["data"]["status"] = "JOB_STATUS_RECONCILING"
    target = new_store()
    done = target.cli("audit", "import", str(write_lines(tmp_path / "tampered.jsonl", tampered)))
    assert done.returncode != 0, done.stdout
    no_traceback(done.stdout, done.stderr)
    assert f"line {number}" in done.stderr, done.stderr
    assert tampered[number - 1]["jobId"] in done.stderr
    assert target.cli("audit", "export").stdout.strip() == "", "the refused import left events behind"


@pytest.mark.parametrize("change", ["altered", "removed"])
def test_import_refuses_a_line_whose_server_request_id_was_changed(
        server: Server, jobs: list[str], new_store: Callable[[], Server], tmp_path: Path, change: str) -> None:
    exported = export_to(server, tmp_path / "log.jsonl")
    assert all(e["serverRequestId"] != e["requestId"] or e["requestId"] for e in exported)
    number = len(exported) // 2
    tampered = json.loads(json.dumps(exported))
    if change == "altered":
        tampered[number - 1]["serverRequestId"] = "0" * 32
    else:
        del tampered[number - 1]["serverRequestId"]
    target = new_store()
    done = target.cli("audit", "import", str(write_lines(tmp_path / "tampered.jsonl", tampered)))
    assert done.returncode != 0, done.stdout
    assert f"line {number}" in done.stderr and "hash" in done.stderr, done.stderr
    assert target.cli("audit", "export").stdout.strip() == "", "the refused import left events behind"


def test_import_refuses_a_file_with_an_event_left_out(
        server: Server, jobs: list[str], new_store: Callable[[], Server], tmp_path: Path) -> None:
    exported = export_to(server, tmp_path / "log.jsonl")
    number = next(n for n, e in enumerate(exported, start=1) if e["version"] == 2 and n > 1)
    gapped = exported[:number - 1] + exported[number:]
    done = new_store().cli("audit", "import", str(write_lines(tmp_path / "gapped.jsonl", gapped)))
    assert done.returncode != 0
    no_traceback(done.stdout, done.stderr)
    assert exported[number - 1]["jobId"] in done.stderr, done.stderr


def test_an_import_refused_late_in_a_large_file_leaves_the_store_empty(
        new_store: Callable[[], Server], tmp_path: Path) -> None:
    good = synthetic_export(300, unique("cli-bulk"))  # 600 events: more than one batch of inserts
    tampered = json.loads(json.dumps(good))
    tampered[550]["data"]["status"] = "JOB_STATUS_PENDING"  # line 551, a Created event
    target = new_store()
    refused = target.cli("audit", "import", str(write_lines(tmp_path / "tampered.jsonl", tampered)))
    assert refused.returncode != 0
    assert "line 551" in refused.stderr, refused.stderr
    left = target.cli("audit", "export")
    assert left.stdout.strip() == "", f"the refused import left {len(left.stdout.splitlines())} events behind"
    fixed = target.cli("audit", "import", str(write_lines(tmp_path / "good.jsonl", good)))
    assert fixed.returncode == 0, fixed.stderr
    assert "imported 600 events" in fixed.stdout
    assert target.cli("audit", "verify").returncode == 0
