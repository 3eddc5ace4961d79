"""The projection engine: views built from the log, exactly once, resuming where they stopped."""
from __future__ import annotations

import threading

import pytest

from jobstore.adapters.core.lists import MAX_PAGE_BYTES, JobFilter
from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.document import JobDocument, merge
from jobstore.domain.enums import JobView
from jobstore.domain.job import Provenance, stream_id
from jobstore.projections.engine import ProjectionEngine
from jobstore.projections.render import VIEWS, view_document
from jobstore.projections.rows import LoggedEvent, ViewRow, fold, row_for
from tests.conftest import unique, upsert_request

BY = Provenance("tester", "writer", "t")


def write_jobs(services: Services, count: int) -> list[str]:
    ids = []
    for i in range(count):
        job_id = unique(f"proj{i}")
        ids.append(job_id)
        services.jobs.upsert(upsert_request({
            "jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
            "jobData": {"stress": {"projectId": {"uuid": "p"}}}}), BY)
        services.jobs.upsert(upsert_request({"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True}), BY)
        progress = {"testRun": {"testBatches": [{"type": "a", "status": "TEST_TASK_STATUS_COMPLETED"}]}}
        services.jobs.upsert(upsert_request({"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
                                            {"jobData": {"stress": {"progress": True}}}), BY)
    return ids


def replayed(services: Services, job_id: str) -> JobDocument:
    document: JobDocument = {}
    for event in services.jobs.repository.event_store.get(stream_id(job_id)):
        document = merge(document, event.data)
    return document


def assert_views_equal_the_log(services: Services, job_ids: list[str]) -> None:
    head = services.engine.event_log.head()
    for view in VIEWS:
        assert services.views.position(view) == head
        assert services.views.count(view) == len(job_ids)
        for job_id in job_ids:
            row = services.views.get(view, job_id)
            assert row is not None and row.document == view_document(replayed(services, job_id), view)


def test_views_catch_up_from_the_log_and_basic_omits_progress(services: Services) -> None:
    job_ids = write_jobs(services, 5)
    assert services.views.get(JobView.BASIC, job_ids[0]) is None
    assert services.engine.catch_up() == 3 * 15  # each view and the log's Merkle tree
    assert_views_equal_the_log(services, job_ids)
    basic = services.views.get(JobView.BASIC, job_ids[0])
    full = services.views.get(JobView.FULL, job_ids[0])
    assert basic is not None and full is not None
    assert "progress" not in basic.document["jobData"]["stress"]
    assert "progress" in full.document["jobData"]["stress"]


def test_after_a_restart_the_views_resume_where_they_stopped(settings: Settings) -> None:
    first = open_services(settings)
    job_ids = write_jobs(first, 4)
    small = ProjectionEngine(first.engine.event_log, first.views, batch_size=5)
    assert small.step() == 10
    first.close()

    second = open_services(settings)
    try:
        assert second.views.position(JobView.BASIC) == 5
        assert second.engine.catch_up() == 2 * (12 - 5) + 12  # the small engine kept no tree
        assert second.tree.state().size == 12
        assert_views_equal_the_log(second, job_ids)
        assert second.engine.catch_up() == 0
    finally:
        second.close()


def test_a_batch_that_fails_midway_writes_neither_rows_nor_position(services: Services,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    job_ids = write_jobs(services, 2)
    real_fold = fold

    def fold_then_crash(view: JobView, events: list[LoggedEvent], current: dict[str, ViewRow]) -> list[ViewRow]:
        rows = real_fold(view, events, current)
        return [*rows, rows[0]._replace(stream_id=None)]  # type: ignore[arg-type]

    monkeypatch.setattr("jobstore.projections.engine.fold", fold_then_crash)
    with pytest.raises(Exception, match=r"(?i)null|constraint"):
        services.engine.step([JobView.BASIC])
    assert services.views.position(JobView.BASIC) == 0
    assert services.views.count(JobView.BASIC) == 0
    monkeypatch.undo()
    services.engine.catch_up()
    assert_views_equal_the_log(services, job_ids)


def test_a_commit_from_a_stale_position_is_refused_and_writes_nothing(services: Services) -> None:
    write_jobs(services, 1)
    services.engine.catch_up()
    row = services.views.page(JobView.FULL, JobFilter(), None, 1, MAX_PAGE_BYTES)[0][0]
    changed = row_for(row.stream_id, {**row.document, "status": "JOB_STATUS_FAILED"}, row.version + 1, 99)
    assert services.views.commit(JobView.FULL, [changed], from_position=0, to_position=99) is False
    again = services.views.get(JobView.FULL, row.job_id)
    assert again is not None and again.document["status"] == row.document["status"]
    assert services.views.position(JobView.FULL) == 3


def test_two_engines_racing_on_one_store_apply_every_event_once(settings: Settings) -> None:
    one, two = open_services(settings), open_services(settings)
    try:
        job_ids = write_jobs(one, 10)
        engines = [ProjectionEngine(s.engine.event_log, s.views, batch_size=3) for s in (one, two)]
        threads = [threading.Thread(target=e.catch_up) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert_views_equal_the_log(one, job_ids)
        for job_id in job_ids:
            row = one.views.get(JobView.FULL, job_id)
            assert row is not None and row.version == 3
    finally:
        one.close()
        two.close()


def test_engines_racing_over_jobs_whose_events_span_batches_apply_every_event_once(settings: Settings) -> None:
    one, two = open_services(settings), open_services(settings)
    try:
        job_ids = [unique(f"span{i}") for i in range(6)]
        for job_id in job_ids:
            one.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN"}), BY)
        for status in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"):
            for job_id in job_ids:
                one.jobs.upsert(upsert_request({"jobId": job_id, "status": status}, {"status": True}), BY)
        engines = [ProjectionEngine(s.engine.event_log, s.views, batch_size=size) for s, size in ((one, 2), (two, 5))]
        threads = [threading.Thread(target=e.catch_up) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for engine in engines:
            engine.close()
        assert_views_equal_the_log(one, job_ids)
        for job_id in job_ids:
            row = one.views.get(JobView.BASIC, job_id)
            assert row is not None and row.version == 3 and row.document["status"] == "JOB_STATUS_RUNNING"
    finally:
        one.close()
        two.close()


def test_the_background_worker_follows_new_writes(services: Services) -> None:
    services.start_projections()
    job_ids = write_jobs(services, 3)
    assert services.engine.wait_for(services.engine.event_log.head(), timeout=10)
    assert_views_equal_the_log(services, job_ids)


def test_a_replayed_batch_skips_events_a_row_has_already_seen() -> None:
    created = LoggedEvent(1, "s", 1, "Created", {"jobId": "j", "jobType": "JOB_TYPE_FILE_SCAN",
                                                 "status": "JOB_STATUS_REQUESTED", "creationTime": "t",
                                                 "cancellationRequested": False})
    cancel = LoggedEvent(2, "s", 2, "CancellationRequested", {"cancellationRequested": True})
    rows = fold(JobView.BASIC, [created, cancel], {})
    again = fold(JobView.BASIC, [created, cancel], {"s": rows[0]})
    assert again == [] and rows[0].version == 2 and rows[0].document["cancellationRequested"] is True
