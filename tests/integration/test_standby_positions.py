"""Waiting for a position on a hot standby (which cannot LISTEN): however many reads wait, one process polls the
standby one query at a time, and every waiter returns once the standby has replayed its position. On the test
PostgreSQL's streaming standby (tests/postgres.sh)."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.standby import StandbyPositions
from jobstore.domain.job import Provenance
from tests.conftest import drop_schema, postgres_setting, postgres_url, unique, upsert_request

WAITERS = 40
BY = Provenance("standby-test", "writer", "req")


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    url, schema = postgres_url(), f"t_{uuid.uuid4().hex[:12]}"
    opened = open_services(Settings(home=tmp_path, database_url=url, database_schema=schema,
                                    read_database_url=postgres_setting("JOBSTORE_TEST_STANDBY_URL")))
    try:
        yield opened
    finally:
        opened.close()
        drop_schema(url, schema)


def test_many_waiting_reads_share_one_poll_at_a_time_and_all_see_the_position_once_replayed(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    standby = services.backend.standby_positions
    assert isinstance(standby, StandbyPositions)
    polls, running, most = [0], [0], [0]
    lock = threading.Lock()
    poll = standby._poll

    def counted() -> None:
        with lock:
            polls[0] += 1
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            poll()
        finally:
            with lock:
                running[0] -= 1
    monkeypatch.setattr(standby, "_poll", counted)

    position = services.jobs.upsert(upsert_request({"jobId": unique("standby-wait"),
                                                    "jobType": "JOB_TYPE_IMAGE_BUILDER"}), BY).position
    assert position is not None
    seen: list[bool | None] = []
    waiters = [threading.Thread(target=lambda: seen.append(standby.wait_for(position, 5.0)))
               for _ in range(WAITERS)]
    for waiter in waiters:
        waiter.start()
    services.engine.catch_up()  # the views reach the position on the primary; the standby replays them
    for waiter in waiters:
        waiter.join(10)
    assert seen == [True] * WAITERS
    assert most[0] == 1, "one poll at a time"
    assert polls[0] < WAITERS * 5
    assert standby.known(position) and standby.log >= position
    assert standby.wait_for(position + 10**9, 0.05) is False  # a position never reached: False at the deadline

