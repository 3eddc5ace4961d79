"""Two writers on one job: both commands take effect or one is reported as a conflict; no update is lost."""
from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.errors import ConcurrentUpdateConflict
from jobstore.domain.job import Job, Provenance, stream_id
from jobstore.domain.values import JobMetadata, WriteMask
from tests.conftest import unique, upsert_request

CREATOR = Provenance("creator", "writer", "create")


def create_running_job(services: Services) -> str:
    job_id = unique("conc")
    services.jobs.upsert(upsert_request({
        "jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_PENDING",
        "jobData": {"stress": {"projectId": {"uuid": "p"}}}}), CREATOR)
    return job_id


def test_concurrent_updates_to_one_version_cannot_both_win(services: Services) -> None:
    job_id = create_running_job(services)
    first, second = services.jobs.job(job_id), services.jobs.job(job_id)
    first.request_cancellation(services.jobs.clock(), Provenance("one", "writer", "r1"))
    second.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": "a"}}, {"agentId": True}),
                  services.jobs.clock(), Provenance("two", "writer", "r2"))
    services.jobs.save(first)
    with pytest.raises(IntegrityError):
        services.jobs.save(second)
    history = list(services.jobs.repository.event_store.get(stream_id(job_id)))
    assert [type(e).__name__ for e in history] == ["Created", "CancellationRequested"]


def run_together(workers: list[Callable[[], Any]]) -> list[BaseException]:
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def go(work: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - collected and asserted on below
            errors.append(e)

    threads = [threading.Thread(target=go, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_two_writer_processes_updating_one_job_lose_no_update(settings: Settings) -> None:
    """Two service instances (as two API processes would be) on one store write the same job at once."""
    one, two = open_services(settings), open_services(settings)
    try:
        job_id = create_running_job(one)
        accepted: dict[str, list[str]] = {"one": [], "two": []}
        conflicts: list[str] = []

        def writer(services: Services, name: str, rounds: int) -> Callable[[], None]:
            def work() -> None:
                for i in range(rounds):
                    request_id = f"{name}-{i}"
                    progress = {"testRun": {"testRunId": request_id, "testBatches": []}}
                    request = JobMetadata.model_validate({"jobId": job_id,
                                                          "jobData": {"stress": {"progress": progress}}})
                    mask = WriteMask.model_validate({"jobData": {"stress": {"progress": True}}})
                    try:
                        services.jobs.upsert(upsert_request(request, mask), Provenance(name, "writer", request_id))
                        accepted[name].append(request_id)
                    except ConcurrentUpdateConflict:
                        conflicts.append(request_id)
            return work

        errors = run_together([writer(one, "one", 25), writer(two, "two", 25)])
        assert errors == []
        history = list(one.jobs.repository.event_store.get(stream_id(job_id)))
        stored = [e.request_id for e in history if isinstance(e, Job.Upserted)]
        assert sorted(stored) == sorted(accepted["one"] + accepted["two"]), "an accepted update was lost"
        assert len(stored) + len(conflicts) == 50
        assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
    finally:
        one.close()
        two.close()


def test_a_reader_tailing_the_log_under_concurrent_writers_never_skips_an_event(services: Services) -> None:
    """Positions must become visible in order: an event committed after a reader has passed its position
    would never be read (the event store's table lock on insert prevents it)."""
    writers, jobs_each, done = 4, 150, threading.Event()
    seen: list[int] = []

    def write(n: int) -> None:
        for j in range(jobs_each):
            job_id = unique(f"tail{n}-{j}")
            services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN"}), CREATOR)
            services.jobs.upsert(upsert_request({"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True}),
                                 CREATOR)

    start = services.event_log.head()

    def tail() -> None:
        after = start
        while True:
            finished = done.is_set()
            events = services.event_log.read(after, 20)
            seen.extend(e.position for e in events)
            after = events[-1].position if events else after
            if finished and not events:
                break

    reader = threading.Thread(target=tail)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    reader.join(60)
    stored = [e.position for e in services.event_log.read(start, 100_000)]
    assert len(stored) == writers * jobs_each * 2
    assert seen == stored


def test_a_command_whose_append_failed_leaves_no_trace_in_the_jobs_kept_in_memory(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = create_running_job(services)

    def database_away(*_: Any, **__: Any) -> None:
        raise OperationalError("the database went away")
    with monkeypatch.context() as patch:
        patch.setattr(services.jobs.recorder, "insert_events", database_away)
        with pytest.raises(OperationalError):
            services.jobs.upsert(upsert_request({"jobId": job_id, "status": "JOB_STATUS_RUNNING"}, {"status": True}),
                                 CREATOR)
    services.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": "a"}}, {"agentId": True}), CREATOR)
    history = list(services.jobs.repository.event_store.get(stream_id(job_id)))
    assert [e.originator_version for e in history] == [1, 2]
    assert services.jobs.job(job_id).status.value == "JOB_STATUS_PENDING"


def test_threads_of_one_process_writing_one_job_take_turns_and_each_answer_names_its_own_event(
        services: Services) -> None:
    job_id = create_running_job(services)
    answers: dict[str, int | None] = {}

    def writer(name: str) -> Callable[[], None]:
        def work() -> None:
            for i in range(25):
                request = f"{name}{i}"
                outcome = services.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": request}},
                                                              {"agentId": True}), Provenance(name, "writer", request))
                answers[request] = outcome.position
        return work

    assert run_together([writer(f"t{n}-") for n in range(4)]) == []
    stored = services.event_log.events.stream(stream_id(job_id))
    assert [e.stored.originator_version for e in stored] == list(range(1, 102))
    request_at = {e.position: json.loads(e.stored.state)["request_id"] for e in stored}
    assert {request: request_at.get(position) for request, position in answers.items()} == \
        {request: request for request in answers}


def test_a_command_on_a_job_waits_for_the_one_in_flight_so_it_never_builds_on_a_change_that_failed(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = create_running_job(services)
    real_insert = services.jobs.recorder.insert_events
    first_is_appending = threading.Event()

    def first_append_fails_slowly(events: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            first_is_appending.set()
            time.sleep(0.3)
            raise OperationalError("the database went away")
        return real_insert(events, **kwargs)
    monkeypatch.setattr(services.jobs.recorder, "insert_events", first_append_fails_slowly)

    def first() -> None:
        with contextlib.suppress(OperationalError):
            services.jobs.upsert(upsert_request({"jobId": job_id, "status": "JOB_STATUS_RUNNING"}, {"status": True}),
                                 CREATOR)
    thread = threading.Thread(target=first, name="first")
    thread.start()
    assert first_is_appending.wait(10)
    services.jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": "second"}}, {"agentId": True}), CREATOR)
    thread.join(10)
    history = list(services.jobs.repository.event_store.get(stream_id(job_id)))
    assert [e.originator_version for e in history] == [1, 2]
    job = services.jobs.job(job_id)
    assert job.status.value == "JOB_STATUS_PENDING" and job.document["agentId"] == {"uuid": "second"}


def test_an_upsert_that_could_create_a_job_another_process_created_updates_it_without_a_conflict(
        settings: Settings) -> None:
    one, two = open_services(settings), open_services(settings)
    try:
        job_id = create_running_job(one)
        again = {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_RUNNING"}
        outcome = two.jobs.upsert(upsert_request(again, {"status": True}), CREATOR)
        assert outcome.document["status"] == "JOB_STATUS_RUNNING" and outcome.position is not None
        assert two.jobs.conflicts_retried == 0
        history = list(one.jobs.repository.event_store.get(stream_id(job_id)))
        assert [type(e).__name__ for e in history] == ["Created", "Upserted"]
    finally:
        one.close()
        two.close()

