"""Tamper evidence: events are append-only at the database, and verification names what was changed."""
from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.enums import JobView, TerminationReason
from jobstore.domain.job import Job, Provenance, stream_id
from tests.conftest import fail_request, unique, upsert_request

BY = Provenance("auditor-test", "writer", "req")


def make_job(services: Services) -> str:
    job_id = unique("audit")
    services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN",
                                                     "status": "JOB_STATUS_PENDING"}), BY)
    services.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": "agent-1"}}, {"agentId": True}), BY)
    services.jobs.fail(job_id, fail_request(TerminationReason.OOMKILLED, "out of memory"), BY)
    services.engine.catch_up()
    return job_id


class RawStore:
    """Direct SQL on the store, as someone with database access (not jobstore) would do it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def execute(self, statement: str, *params: object) -> None:
        if self.settings.database_url is None:
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                conn.execute(statement, params)
        else:
            with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
                conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.settings.database_schema)))
                conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]

    @property
    def events(self) -> str:
        return "stored_events" if self.settings.database_url is None else "jobstore_events"

    def stream(self, job_id: str) -> object:
        uuid = stream_id(job_id)
        return uuid.hex if self.settings.database_url is None else uuid

    def tamper(self, job_id: str, version: int, old: str, new: str) -> None:
        """Change the bytes of one stored event, getting past the append-only guard as a superuser could."""
        if self.settings.database_url is None:
            self.execute("DROP TRIGGER stored_events_refuse_update")
            self.execute("UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), ?, ?) AS BLOB) "
                         "WHERE originator_id = ? AND originator_version = ?", old, new, self.stream(job_id), version)
        else:
            self.execute("ALTER TABLE jobstore_events DISABLE TRIGGER jobstore_events_append_only")
            self.execute("UPDATE jobstore_events SET state = convert_to(replace(convert_from(state, 'UTF8'), ?, ?), "
                         "'UTF8') WHERE originator_id = ? AND originator_version = ?", old, new,
                         self.stream(job_id), version)
            self.execute("ALTER TABLE jobstore_events ENABLE TRIGGER jobstore_events_append_only")


@pytest.fixture
def raw(settings: Settings) -> RawStore:
    return RawStore(settings)


@pytest.fixture
def store(settings: Settings) -> Iterator[Services]:
    services = open_services(settings)
    yield services
    services.close()


def test_a_plain_sql_update_or_delete_of_an_event_is_refused_by_the_database(store: Services, raw: RawStore) -> None:
    job_id = make_job(store)
    error = sqlite3.DatabaseError if store.settings.database_url is None else psycopg.errors.RaiseException
    with pytest.raises(error, match="append-only"):
        raw.execute(f"UPDATE {raw.events} SET topic = topic WHERE originator_id = ?", raw.stream(job_id))
    with pytest.raises(error, match="append-only"):
        raw.execute(f"DELETE FROM {raw.events} WHERE originator_id = ?", raw.stream(job_id))
    assert len(store.audit.history(job_id)) == 3


def test_a_healthy_store_verifies_clean(store: Services) -> None:
    make_job(store)
    assert store.audit.verify() == []


def test_changing_one_stored_events_bytes_is_named_by_job_and_version(store: Services, raw: RawStore) -> None:
    job_id, other = make_job(store), make_job(store)
    raw.tamper(job_id, 3, "out of memory", "out of mana")
    problems = store.audit.verify()
    chain = [p for p in problems if "hash" in p.what]
    assert [(p.job_id, p.version) for p in chain] == [(job_id, 3)]
    assert all(p.job_id == job_id for p in problems), "an untouched job was reported"
    assert other not in {p.job_id for p in problems}


@pytest.mark.parametrize("changed_to", ['"server_request_id":"0123456789abcdef0123456789abcdef"',
                                        '"server_request_id":null', '"removed_field":"x"'])
def test_changing_or_removing_the_servers_request_id_of_an_event_is_named_by_job_and_version(
        store: Services, raw: RawStore, changed_to: str) -> None:
    job_id = unique("audit")
    by = Provenance("auditor-test", "writer", "clients-id", "fedcba9876543210fedcba9876543210")
    store.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}), by)
    store.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": "agent-1"}}, {"agentId": True}), by)
    store.engine.catch_up()
    assert [e.event.server_request_id for e in store.audit.history(job_id)] == [by.server_request_id] * 2
    assert store.audit.verify(job_id) == []
    raw.tamper(job_id, 2, f'"server_request_id":"{by.server_request_id}"', changed_to)
    problems = store.audit.verify(job_id)
    assert [(p.job_id, p.version) for p in problems] == [(job_id, 2)]
    assert "does not match its hash" in problems[0].what


def test_rewriting_an_event_and_its_hash_breaks_the_link_to_the_next_event(store: Services, raw: RawStore) -> None:
    job_id = make_job(store)
    second = store.audit.history(job_id)[1].event
    raw.tamper(job_id, 2, second.hash, "f" * 64)
    problems = [(p.job_id, p.version) for p in store.audit.verify(job_id)]
    assert (job_id, 2) in problems and (job_id, 3) in problems


def test_a_changed_view_row_is_reported_with_the_difference(store: Services, raw: RawStore) -> None:
    job_id = make_job(store)
    raw.execute("UPDATE job_view_full SET document = replace(document, 'JOB_STATUS_FAILED', 'JOB_STATUS_SUCCEEDED') "
                "WHERE job_id = ?", job_id)
    problems = store.audit.verify()
    assert len(problems) == 1
    assert problems[0].job_id == job_id and JobView.FULL.value in problems[0].what
    assert "JOB_STATUS_SUCCEEDED" in problems[0].what and "JOB_STATUS_FAILED" in problems[0].what


def test_a_view_row_for_a_job_the_log_never_had_is_reported(store: Services, raw: RawStore) -> None:
    make_job(store)
    raw.execute("INSERT INTO job_view_basic (stream_id, job_id, job_type, status, creation_time, document, version,"
                " position) SELECT 'ghost-stream', 'ghost', job_type, status, creation_time, document, version,"
                " position FROM job_view_basic LIMIT 1")
    assert [p.job_id for p in store.audit.verify()] == ["ghost"]


def test_export_then_import_into_an_empty_store_reproduces_views_and_chain_heads(
        make_settings: object, store: Services) -> None:
    job_ids = [make_job(store) for _ in range(3)]
    exported = io.StringIO()
    assert store.audit.export(exported) == 9
    target = open_services(make_settings())  # type: ignore[operator]
    try:
        assert target.audit.import_(exported.getvalue().splitlines) == 9
        target.engine.catch_up()
        assert target.audit.verify() == []
        for job_id in job_ids:
            assert [e.event.hash for e in target.audit.history(job_id)] == \
                   [e.event.hash for e in store.audit.history(job_id)]
            for view in JobView.BASIC, JobView.FULL:
                mine, theirs = store.views.get(view, job_id), target.views.get(view, job_id)
                assert mine is not None and theirs is not None and mine.document == theirs.document
        with pytest.raises(Exception, match="empty store"):
            target.audit.import_(exported.getvalue().splitlines)
    finally:
        target.close()


def test_import_refuses_an_altered_or_reordered_export(make_settings: object, store: Services) -> None:
    make_job(store)
    exported = io.StringIO()
    store.audit.export(exported)
    lines = exported.getvalue().splitlines()
    for broken, why in ((lines[:1] + lines[2:], "does not follow the chain"),
                        ([lines[0], lines[1].replace("agent-1", "agent-2"), lines[2]], "does not match its hash"),
                        ([lines[0], lines[1].replace('"agent-1"', "1.5"), lines[2]], "only whole numbers"),
                        ([lines[0], lines[1].replace('"agent-1"', "NaN"), lines[2]], "only whole numbers")):
        target = open_services(make_settings())  # type: ignore[operator]
        try:
            with pytest.raises(Exception, match=why):
                target.audit.import_(lambda: broken)  # noqa: B023 - called right here
            assert target.audit.events.count() == 0, "a refused import stored events"
        finally:
            target.close()


def test_time_travel_across_snapshots_rebuilds_every_version_exactly(store: Services) -> None:
    job_id = unique("long")
    store.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}), BY)
    for n in range(2, 251):
        store.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": f"agent-{n}"}}, {"agentId": True}), BY)
    expected = {}
    documents = {}
    for recorded in store.audit.history(job_id):
        expected = {**expected, **recorded.event.data}
        documents[recorded.event.originator_version] = dict(expected)
    every = store.jobs.snapshotting_intervals[Job]
    for version in sorted({1, every - 1, every, every + 1, 2 * every, 2 * every + 1, 249, 250}):
        assert store.audit.at_version(job_id, version)[0] == documents[version]
    assert store.jobs.snapshots is not None
    assert [s.originator_version for s in store.jobs.snapshots.get(stream_id(job_id))] == \
           list(range(every, 251, every))
