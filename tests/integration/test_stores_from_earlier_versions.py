"""A store written by an earlier version keeps working after an upgrade: the same views, the same history and
hashes, the same answers about the past, `audit verify` passing, and new writes carrying on its chains.

The stores in tests/fixtures/store_8244eee were written by 8244eee, the last version whose packages installed
as top-level `domain`, `projections` and `adapters` (so its events and snapshots name `domain.job:Job...`),
with generate.py there; the .expected.json beside each store holds what that version answered about it.
"""
from __future__ import annotations

import asyncio
import io
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from jobstore.adapters.core.access import Role
from jobstore.adapters.core.lists import MAX_PAGE_BYTES, JobFilter
from jobstore.adapters.operations import rebuild
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.idempotency import Stored
from jobstore.domain.document import format_time
from jobstore.domain.enums import JobStatus, JobView
from jobstore.domain.job import Provenance
from jobstore.projections.columns import COLUMN_NAMES
from tests.conftest import drop_schema, postgres_url, upsert_request

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "store_8244eee"
FIXTURE_SCHEMA = "jobstore_fixture"
OOM, GENERIC = "TERMINATION_REASON_OOMKILLED", "TERMINATION_REASON_GENERIC_ERROR"


def expected(backend: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{backend}.expected.json").read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def old_store(backend: str, tmp_path: Path) -> Iterator[Settings]:
    """A copy of the store the earlier version wrote, on the test's backend."""
    home = tmp_path / "home"
    home.mkdir()
    if backend == "sqlite":
        shutil.copy(FIXTURES / "sqlite.sqlite3", home / "jobstore.sqlite3")
        yield Settings(home=home)
        return
    url = postgres_url()
    schema = f"old_{uuid.uuid4().hex[:12]}"
    dump = (FIXTURES / "postgres.sql").read_text(encoding="utf-8").replace(FIXTURE_SCHEMA, schema)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(dump.encode())
    try:
        yield Settings(home=home, database_url=url, database_schema=schema)
    finally:
        drop_schema(url, schema)


@pytest.fixture
def upgraded(old_store: Settings) -> Iterator[Services]:
    services = open_services(old_store)
    yield services
    services.close()


def test_the_views_serve_what_the_earlier_version_showed(upgraded: Services, backend: str) -> None:
    was = expected(backend)
    for view in (JobView.BASIC, JobView.FULL):
        assert upgraded.views.position(view) == was["positions"][view.value]
        for job_id, document in was["views"][view.value].items():
            row = upgraded.views.get(view, job_id)
            assert row is not None and row.document == document, (view, job_id)


def test_getjobs_lookups_on_the_event_loop_serve_what_the_earlier_version_showed(upgraded: Services,
                                                                                  backend: str) -> None:
    was = expected(backend)

    async def looked_up() -> list[tuple[JobView, str, Any, int]]:
        reads = [(view, job_id, await upgraded.views.get_async(view, job_id))
                 for view in (JobView.BASIC, JobView.FULL) for job_id in was["views"][view.value]]
        await upgraded.backend.aclose()
        return [(view, job_id, read.row and read.row.document, read.position) for view, job_id, read in reads]

    looked = asyncio.run(looked_up())
    assert {view for view, *_ in looked} == {JobView.BASIC, JobView.FULL}
    for view, job_id, document, position in looked:
        assert document == was["views"][view.value][job_id], (view, job_id)
        assert position == was["positions"][view.value]


def test_the_history_and_every_hash_export_byte_for_byte_as_before(upgraded: Services, backend: str) -> None:
    exported = io.StringIO()
    upgraded.audit.export(exported)
    assert exported.getvalue().splitlines() == expected(backend)["export"]


def test_time_travel_answers_as_before_through_the_old_snapshots(upgraded: Services, backend: str) -> None:
    was = expected(backend)
    assert any(moment["version"] > 50 for moment in was["as_of"]), "the fixture should reach past a snapshot"
    for moment in was["as_of"]:
        as_of = datetime.fromisoformat(moment["asOf"].replace("Z", "+00:00"))
        document, _ = upgraded.audit.as_of(moment["jobId"], as_of)
        assert document == moment["document"]
        versioned, _ = upgraded.audit.at_version(moment["jobId"], moment["version"])
        assert versioned == moment["document"]


def test_verify_passes_and_the_old_keys_still_authenticate(upgraded: Services, backend: str) -> None:
    assert upgraded.audit.verify() == []
    assert upgraded.audit.job_ids() == expected(backend)["job_ids"]
    keys = expected(backend)["keys"]
    admin, reader = (asyncio.run(upgraded.keys.authenticate(keys[role])) for role in ("admin", "reader"))
    assert admin is not None and admin.role is Role.ADMIN
    assert reader is not None and reader.role is Role.READER


def test_new_writes_carry_on_the_old_chains_and_rebuilt_views_equal_the_old_ones(upgraded: Services,
                                                                                 backend: str) -> None:
    by = Provenance("upgrade-test", "writer", "req-upgrade")
    outcome = upgraded.jobs.upsert(upsert_request({"jobId": "long-1", "status": "JOB_STATUS_SUCCEEDED"},
                                                  {"status": True}), by)
    assert outcome.document["status"] == JobStatus.SUCCEEDED.value
    history = upgraded.audit.history("long-1")
    assert history[-1].event.prev_hash == history[-2].event.hash
    assert upgraded.jobs.job("long-1").version == len(history)
    upgraded.engine.catch_up()
    assert upgraded.audit.verify() == []
    for view in (JobView.BASIC, JobView.FULL):
        rebuild(upgraded, view)
        for job_id, document in expected(backend)["views"][view.value].items():
            row = upgraded.views.get(view, job_id)
            assert row is not None
            if job_id != "long-1":
                assert row.document == document, (view, job_id)


def test_a_column_declared_since_is_added_to_the_old_view_tables_and_filled_from_their_documents(
        upgraded: Services) -> None:
    """The stores were written before views had a termination_reason column; opening them adds it."""
    for view in (JobView.BASIC, JobView.FULL):
        failed, _, _ = upgraded.views.page(view, JobFilter(selected=(("termination_reason", (OOM,)),)), None,
                                           10, MAX_PAGE_BYTES)
        assert [row.job_id for row in failed] == ["firewall-1"]
        assert failed[0].columns[COLUMN_NAMES.index("termination_reason")] == OOM
        assert upgraded.views.page(view, JobFilter(selected=(("termination_reason", (GENERIC,)),)), None, 10,
                                   MAX_PAGE_BYTES)[:2] == ([], False)


def test_idempotent_answers_kept_by_the_earlier_version_are_given_back_the_same(upgraded: Services) -> None:
    """Before the core answered for every transport, a kept answer held its HTTP status and its position as
    the X-Jobstore-Position header; such rows (kept for 48 hours) are read as they meant."""
    now = format_time(datetime.now(UTC))
    kept = [("ok-key", 200, '{"job":{"jobId":"stress-1"}}', '{"x-jobstore-position": "6"}'),
            ("refused-key", 404, '{"code":5,"message":"job \'ghost\' does not exist","details":[]}', "{}")]
    with upgraded.backend.db.transaction() as cursor:
        for key, status, body, headers in kept:
            cursor.execute("INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, status, body, headers,"
                           " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           ("fixture-writer", key, "fingerprint", status, body, headers, now))
    answered = upgraded.idempotency.claim("fixture-writer", "ok-key", "fingerprint")
    assert answered == Stored(0, '{"job":{"jobId":"stress-1"}}', 6)
    refused = upgraded.idempotency.claim("fixture-writer", "refused-key", "fingerprint")
    assert refused is not None and (refused.code, refused.position) == (5, None)


def test_the_log_tree_of_an_older_store_is_built_on_first_start_and_signs_a_checkpoint(upgraded: Services,
                                                                                      backend: str,
                                                                                      tmp_path: Path) -> None:
    from jobstore.adapters.checkpoints import read_checkpoint
    from jobstore.adapters.operations import TREE_LAG_BUILT_FIRST, build_log_tree
    from jobstore.domain.merkle import RootBuilder, leaf_hash

    exported = expected(backend)["export"]
    assert upgraded.tree.state().size == 0, "an earlier version kept no tree"
    build_log_tree(upgraded)  # what serve and project do first (a small store: below the lag built first)
    assert len(exported) < TREE_LAG_BUILT_FIRST
    upgraded.engine.catch_up()
    builder = RootBuilder()
    for line in exported:
        builder.add(leaf_hash(bytes.fromhex(json.loads(line)["hash"])))
    assert upgraded.tree.state().size == len(exported)
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(upgraded.transparency.checkpoint(), encoding="utf-8")
    checkpoint = read_checkpoint(saved, upgraded.transparency.verifier)
    assert (checkpoint.checkpoint.size, checkpoint.checkpoint.root) == (len(exported), builder.root())
    assert upgraded.audit.verify_checkpoints([checkpoint]) == []
