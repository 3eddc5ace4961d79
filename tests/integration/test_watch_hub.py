"""The process's tail of the log reads nothing while no watch is open (each write cost a read of the log for no
one: a fifth of the write rate), and a watch that comes after such a pause, from now or from an older position,
still gets every change after its start, once."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from jobstore.adapters.core.access import Principal, Role
from jobstore.adapters.core.queries import Queries
from jobstore.adapters.core.watch import CHANGE, Sent, Watcher
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.backend import EVENTS_CHANNEL
from jobstore.domain.job import Provenance
from tests.conftest import unique, upsert_request

BY = Provenance(actor="hub-test", role="writer", request_id="hub")
READER = Principal("watcher", Role.READER)


def create(services: Services, job_id: str) -> int:
    outcome = services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN"}), BY)
    services.note_written(outcome.position)
    assert outcome.position is not None
    return outcome.position


async def changes(watcher: Watcher, count: int) -> list[Sent]:
    received: list[Sent] = []
    async with asyncio.timeout(10):
        async for sent in watcher.sent(0.05):
            if sent.kind == CHANGE:
                received.append(sent)
                if len(received) == count:
                    return received
    raise AssertionError("the watch ended")


def test_no_log_is_read_while_no_watch_is_open_and_a_later_watch_misses_nothing(services: Services) -> None:
    queries = Queries(services, lambda: datetime.now(UTC))
    hub = queries.watches
    reads: list[int] = []
    after = hub.events.after

    def counted(position: int, limit: int) -> Any:
        reads.append(position)
        return after(position, limit)

    hub.events.after = counted  # type: ignore[method-assign]

    async def scenario() -> None:
        first = await queries.watch(READER, job_id="nobody")
        hub.leave(first)
        await asyncio.sleep(0.3)  # the tail's idle poll is 0.1 s: it has noticed no one watches
        reads.clear()
        before_pause = create(services, unique("unwatched"))
        for _ in range(5):
            create(services, unique("unwatched"))
            hub.nudge()  # as the database's notification of an append would
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert reads == [], "the tail read the log with no watch open"

        from_now = await queries.watch(READER, selected={"job_type": ["JOB_TYPE_FILE_SCAN"]})
        from_before = await queries.watch(READER, selected={"job_type": ["JOB_TYPE_FILE_SCAN"]}, after=before_pause)
        later = [create(services, unique("watched")) for _ in range(3)]
        hub.nudge()
        assert [sent.position for sent in await changes(from_now, 3)] == later
        replayed = [sent.position for sent in await changes(from_before, 8)]
        assert replayed == sorted(set(replayed)) and replayed[-3:] == later and len(replayed) == 8
        assert min(reads) >= before_pause, "the tail went back to where it stood before the pause"
        await hub.close()

    asyncio.run(scenario())


def test_the_watches_hear_other_processes_appends_through_the_projections_listener_when_it_runs_here(
        services: Services, settings: Settings) -> None:
    """One listening connection and thread per process, not one for the projections and one for the watches
    (which woke at every append even while no watch was open)."""
    services.start_projections()
    assert channels_listened_to_while_another_process_writes_to_a_watched_job(services, settings) == [], \
        "the watches' tail opened a listener of its own beside the projections'"


def test_without_projections_here_the_watches_listen_for_themselves(services: Services, settings: Settings) -> None:
    assert channels_listened_to_while_another_process_writes_to_a_watched_job(services, settings) == [EVENTS_CHANNEL]


def channels_listened_to_while_another_process_writes_to_a_watched_job(services: Services,
                                                                      settings: Settings) -> list[str]:
    """The watch gets the change of another process's write, with the tail's poll set far off, so that only a
    notification can bring it in time; and the channels `services` began to listen to meanwhile."""
    other = open_services(settings)  # another API process on the same store
    listened = listens_of(services)
    queries = Queries(services, lambda: datetime.now(UTC))
    queries.watches.idle_poll_seconds = 60

    async def scenario() -> None:
        job_id = unique("heard")
        watcher = await queries.watch(READER, job_id=job_id)
        written = create(other, job_id)
        assert [sent.position for sent in await changes(watcher, 1)] == [written]
        await queries.watches.close()

    try:
        asyncio.run(scenario())
    finally:
        other.close()
    return listened


def listens_of(services: Services) -> list[str]:
    """The channels listened to on `services`' backend from now on (the listening goes on as before)."""
    channels: list[str] = []
    listen = services.backend.listen

    def recorded(channel: str, *args: Any) -> None:
        channels.append(channel)
        listen(channel, *args)

    services.backend.listen = recorded  # type: ignore[method-assign]
    return channels
