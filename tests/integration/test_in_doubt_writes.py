"""A write whose event committed but whose answer was lost (the primary failed over between the commit and the
answer, or the connection broke as the commit's answer travelled) is applied once: the append notes the
event's position in the request's idempotency claim in its own transaction, so the request itself, or a retry
with the same Idempotency-Key in any process, answers as the write would have, and appends nothing more.

PostgreSQL only: there the append is jobstore's own statement (storage/library.py). The embedded SQLite store
has no failover and no connection to lose between a commit and its answer."""
from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobstore.adapters.core.access import Principal, Role
from jobstore.adapters.core.commands import Caller, Commands
from jobstore.adapters.errors import code_of
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.database import DatabaseUnavailable
from jobstore.adapters.storage.library import EventRecorder
from jobstore.domain.job import stream_id
from tests.conftest import drop_schema, postgres_url, unique


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    url, schema = postgres_url(), f"t_{uuid.uuid4().hex[:12]}"
    opened = open_services(Settings(home=tmp_path, database_url=url, database_schema=schema))
    try:
        yield opened
    finally:
        opened.close()
        drop_schema(url, schema)


def caller() -> Caller:
    return Caller(Principal("agent", Role.WRITER), unique("request"))


def create(job_id: str) -> bytes:
    return json.dumps({"job": {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}}).encode()


def events_of(services: Services, job_id: str) -> int:
    return len(services.audit.events.stream(stream_id(job_id)))


def lose_the_answer_after_the_commit(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The event commits, then the connection breaks before the request answers (once)."""
    noted = services.note_written
    broken = [True]

    def gone(position: int | None) -> None:
        if broken.pop() if broken else False:
            raise DatabaseUnavailable("PostgreSQL is unreachable: server closed the connection unexpectedly")
        noted(position)
    monkeypatch.setattr(services, "note_written", gone)


def test_a_request_that_loses_its_answer_after_its_event_committed_still_answers_as_written(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = Commands(services, lambda: datetime.now(UTC))
    job_id = unique("doubt")
    with monkeypatch.context() as patch:
        lose_the_answer_after_the_commit(services, patch)
        written = asyncio.run(commands.upsert(caller(), create(job_id), "key-1"))
    assert not written.replayed and written.position is not None
    assert json.loads(written.answer)["job"]["jobId"] == job_id
    assert events_of(services, job_id) == 1
    again = asyncio.run(commands.upsert(caller(), create(job_id), "key-1"))
    assert again.replayed and again.position == written.position and events_of(services, job_id) == 1


def test_a_retry_after_a_failover_gets_the_answer_of_the_write_that_committed_and_appends_nothing(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = Commands(services, lambda: datetime.now(UTC))
    job_id = unique("doubt")
    asyncio.run(commands.upsert(caller(), create(job_id), "create"))
    running = json.dumps({"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"},
                          "writeMask": {"status": True}}).encode()
    with monkeypatch.context() as patch:
        lose_the_answer_after_the_commit(services, patch)
        patch.setattr(commands, "_applied", lambda scope, key: None)  # nor can it look its claim up
        with pytest.raises(DatabaseUnavailable) as lost:
            asyncio.run(commands.upsert(caller(), running, "pending"))
    assert code_of(lost.value) == 14  # the client saw UNAVAILABLE: in doubt
    assert events_of(services, job_id) == 2  # but the write committed

    other_process = Commands(services, lambda: datetime.now(UTC))
    retried = asyncio.run(other_process.upsert(caller(), running, "pending"))
    assert retried.replayed and json.loads(retried.answer)["job"]["status"] == "JOB_STATUS_PENDING"
    assert retried.position == services.event_log.head()
    assert events_of(services, job_id) == 2
    cancel = asyncio.run(other_process.request_cancellation(caller(), job_id, None, "cancel"))
    assert events_of(services, job_id) == 3 and cancel.answer == b"{}"


def test_a_request_that_failed_before_its_event_committed_runs_again_on_retry(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = Commands(services, lambda: datetime.now(UTC))
    job_id = unique("doubt")

    def unreachable(*_: object) -> None:
        raise DatabaseUnavailable("PostgreSQL is unreachable: connection refused")
    with monkeypatch.context() as patch:
        patch.setattr(services.jobs, "upsert", unreachable)
        with pytest.raises(DatabaseUnavailable):
            asyncio.run(commands.upsert(caller(), create(job_id), "key-1"))
    assert events_of(services, job_id) == 0
    written = asyncio.run(commands.upsert(caller(), create(job_id), "key-1"))
    assert not written.replayed and events_of(services, job_id) == 1


def test_an_append_retried_after_its_commit_answer_was_lost_answers_with_the_committed_position(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection breaks after the append's COMMIT and before its answer (the server really commits and really
    ends the connection). The recorder retries the append on a new connection; the version is taken (by the
    append itself), so the command decides again on the stored job and finds nothing to change. The request
    answers as the committed write, at its position, not as a write that changed nothing."""
    commands = Commands(services, lambda: datetime.now(UTC))
    job_id = unique("doubt")
    asyncio.run(commands.upsert(caller(), create(job_id), "create"))
    pending = json.dumps({"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"},
                          "writeMask": {"status": True}}).encode()
    composed = EventRecorder._query
    broken = [True]

    def commit_then_break(recorder: EventRecorder, stored_events: Any) -> bytes:
        query = composed(recorder, stored_events)
        if broken.pop() if broken else False:
            return query + b"; COMMIT; SELECT pg_terminate_backend(pg_backend_pid())"
        return query
    with monkeypatch.context() as patch:
        patch.setattr(EventRecorder, "_query", commit_then_break)
        written = asyncio.run(commands.upsert(caller(), pending, "pending"))
    assert not broken, "the append's connection was broken"
    assert events_of(services, job_id) == 2
    assert written.position == services.event_log.head(), "the committed event's position"
    assert not written.replayed and json.loads(written.answer)["job"]["status"] == "JOB_STATUS_PENDING"
    again = asyncio.run(commands.upsert(caller(), pending, "pending"))
    assert again.replayed and again.position == written.position and events_of(services, job_id) == 2
