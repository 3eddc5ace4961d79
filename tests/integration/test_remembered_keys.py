"""An API process may remember the keys it has checked only while it learns of every revocation, by any process,
before it answers another call. Here a second `Services` on the same store stands for the other process."""
from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from jobstore.adapters.core.access import Role
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.keys import KeyRecord
from jobstore.domain.job import Provenance
from tests.conftest import upsert_request

BY = Provenance("agent", "writer", "request-1")


@contextmanager
def two_processes(settings: Settings) -> Iterator[tuple[Services, Services]]:
    this, other = open_services(settings), open_services(settings)
    try:
        yield this, other
    finally:
        this.close()
        other.close()


def count_look_ups(services: Services) -> list[str]:
    """The key ids this process reads from the store from now on."""
    read: list[str] = []
    active = services.keys.table.active

    def counted(key_id: str) -> KeyRecord | None:
        read.append(key_id)
        return active(key_id)

    services.keys.table.active = counted  # type: ignore[method-assign]
    return read


def test_a_key_revoked_by_another_process_is_refused_at_the_next_call(settings: Settings) -> None:
    with two_processes(settings) as (this, other):
        _, key = other.keys.create(Role.READER, "soon-revoked")
        _, kept = other.keys.create(Role.READER, "kept")
        for _ in range(3):
            assert asyncio.run(this.keys.authenticate(key)) is not None
        other.keys.revoke("soon-revoked")
        assert asyncio.run(this.keys.authenticate(key)) is None
        assert asyncio.run(this.keys.authenticate(kept)) is not None


@pytest.mark.parametrize("backend", ["sqlite"])
def test_on_sqlite_a_checked_key_is_not_read_again_until_a_key_is_revoked(settings: Settings) -> None:
    with two_processes(settings) as (this, other):
        _, key = other.keys.create(Role.WRITER, "agent")
        _, other_key = other.keys.create(Role.READER, "dashboard")
        look_ups = count_look_ups(this)
        for _ in range(5):
            assert asyncio.run(this.keys.authenticate(key)) is not None
        assert len(look_ups) == 1

        # Writes by another process that revoke nothing (a job, a new key) keep what was remembered.
        other.jobs.upsert(upsert_request({"jobId": "job-1", "jobType": "JOB_TYPE_FILE_SCAN"}), BY)
        other.keys.create(Role.READER, "new")
        assert asyncio.run(this.keys.authenticate(key)) is not None
        assert len(look_ups) == 1

        other.keys.revoke("dashboard")  # another key: every remembered key is checked again once
        assert asyncio.run(this.keys.authenticate(other_key)) is None
        assert asyncio.run(this.keys.authenticate(key)) is not None
        assert asyncio.run(this.keys.authenticate(key)) is not None
        assert len(look_ups) == 3


@pytest.mark.parametrize("backend", ["postgres"])
def test_on_postgresql_without_a_listener_every_call_reads_its_key(settings: Settings) -> None:
    with two_processes(settings) as (this, other):
        _, key = other.keys.create(Role.WRITER, "agent")
        look_ups = count_look_ups(this)
        for _ in range(3):
            assert asyncio.run(this.keys.authenticate(key)) is not None
        assert len(look_ups) == 3
