"""What an idempotency record keeps: a digest of the request and what the answer needs, never the job itself,
so a record stays small whatever the job's size; and how many records one API key may hold. Both stores."""
from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from jobstore.adapters.core.access import Principal, Role
from jobstore.adapters.core.commands import Caller, Commands
from jobstore.adapters.errors import ResourceExhausted
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from tests.conftest import SettingsFactory, unique

LARGE_DATA = {"continuousInc": {"firewallId": "fw", "ctTestRunIds": [f"{i:06d}".ljust(96, "x")
                                                                     for i in range(10_000)]}}


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment


@contextmanager
def opened(settings: Settings) -> Iterator[Services]:
    services = open_services(settings)
    try:
        yield services
    finally:
        services.close()


def caller(name: str = "agent") -> Caller:
    return Caller(Principal(name, Role.WRITER), unique("request"))


def body(job: dict[str, object], mask: dict[str, object] | None = None) -> bytes:
    return json.dumps({"job": job, **({"writeMask": mask} if mask else {})}).encode()


def records(services: Services) -> list[tuple[str, str]]:
    with services.backend.db.transaction(write=False) as cursor:
        cursor.execute("SELECT body, headers FROM idempotency_keys WHERE status IS NOT NULL")
        return [(str(b or ""), str(h or "")) for b, h in cursor.fetchall()]


def test_writes_of_a_large_job_keep_small_records_and_replay_the_first_answer_byte_for_byte(
        make_settings: SettingsFactory) -> None:
    clock = Clock()
    with opened(make_settings()) as services:
        commands = Commands(services, clock)
        job_id = unique("large")
        create = body({"jobId": job_id, "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST", "status": "JOB_STATUS_PENDING",
                       "jobData": LARGE_DATA})
        assert len(create) > 1_000_000
        first = [asyncio.run(commands.upsert(caller(), create, "create"))]
        running = body({"jobId": job_id, "status": "JOB_STATUS_RUNNING"}, {"status": True})
        first.append(asyncio.run(commands.upsert(caller(), running, "run")))
        unchanged = body({"jobId": job_id, "jobData": LARGE_DATA}, {"jobData": {"continuousInc": {
            "ctTestRunIds": True}}})
        for n in range(10):  # change nothing, each with a new key
            clock.moment += timedelta(seconds=1)
            written = asyncio.run(commands.upsert(caller(), unchanged, f"unchanged-{n}"))
            assert written.position is None
            first.append(written)
        kept = records(services)
        assert len(kept) == 12 and all(len(b) + len(h) < 300 for b, h in kept), [len(b) + len(h) for b, h in kept]

        clock.moment += timedelta(hours=1)  # a running job's runningTimeSecs grows: a replay shows the first
        keys = ["create", "run", *(f"unchanged-{n}" for n in range(10))]
        requests = [create, running, *[unchanged] * 10]
        for key, request, answer in zip(keys, requests, first, strict=True):
            again = asyncio.run(commands.upsert(caller(), request, key))
            assert again.replayed and (again.answer, again.position) == (answer.answer, answer.position), key


def test_an_api_key_holds_at_most_so_many_records_and_past_them_a_new_key_is_resource_exhausted(
        make_settings: SettingsFactory) -> None:
    settings = dataclasses.replace(make_settings(), idempotency_records_per_key=3)
    with opened(settings) as services:
        commands = Commands(services, lambda: datetime.now(UTC))
        job_id = unique("bounded")
        create = body({"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
        asyncio.run(commands.upsert(caller(), create))
        statuses = ["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED"]
        requests = [body({"jobId": job_id, "status": s}, {"status": True}) for s in statuses]
        answers = [asyncio.run(commands.upsert(caller(), requests[n], f"key-{n}")) for n in range(3)]
        with pytest.raises(ResourceExhausted, match="3 idempotency records"):
            asyncio.run(commands.upsert(caller(), requests[3], "key-3"))
        assert services.jobs.job(job_id).document["status"] == "JOB_STATUS_RECONCILING"  # nothing written
        assert asyncio.run(commands.upsert(caller(), requests[0], "key-0")).answer == answers[0].answer
        assert asyncio.run(commands.upsert(caller("another"), requests[3], "key-3")).position is not None
        assert len(records(services)) == 4
