"""A page of a view, of a job's history or of the log holds at most so many bytes: the database cuts it, on
both stores, and the next page goes on after it."""
from __future__ import annotations

import msgspec
import pytest

from jobstore.adapters.core.lists import JobFilter, PageKey
from jobstore.adapters.runtime import Services
from jobstore.domain.enums import JobView
from jobstore.domain.job import Provenance, stream_id
from jobstore.projections.rows import ViewRow, row_for
from tests.conftest import unique, upsert_request

PADDINGS = [700, 100, 2500, 10, 900, 40, 1200]  # the jobs' extra bytes, newest first


@pytest.fixture
def newest_first(services: Services) -> list[ViewRow]:
    """Jobs of one project whose documents differ in size, committed to the FULL view, newest first."""
    project = unique("paged")
    rows = [row_for(f"stream-{project}-{n}", {
        "jobId": f"{project}-{n}", "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_REQUESTED",
        "creationTime": f"2026-11-30T10:00:{59 - n:02d}Z", "cancellationRequested": False,
        "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": "x" * padding}}}, 1, n + 1)
        for n, padding in enumerate(PADDINGS)]
    assert services.views.commit(JobView.FULL, rows, services.views.position(JobView.FULL), len(rows))
    return rows


def size(row: ViewRow) -> int:
    return len(msgspec.json.encode(row.document))


def expected_cut(rows: list[ViewRow], limit: int, max_bytes: int) -> tuple[list[str], bool]:
    taken: list[str] = []
    held = 0
    for row in rows:
        if len(taken) == limit or (taken and held + size(row) > max_bytes):
            return taken, True
        taken.append(row.job_id)
        held += size(row)
    return taken, False


def test_a_page_stops_before_the_job_that_would_take_it_over_the_bytes_allowed(
        services: Services, newest_first: list[ViewRow]) -> None:
    project = newest_first[0].document["jobData"]["stress"]["projectId"]["uuid"]
    sizes = [size(row) for row in newest_first]
    running = [sum(sizes[:n + 1]) for n in range(len(sizes))]
    budgets = sorted({1, *running, *(r - 1 for r in running), *(r + 1 for r in running), 10**9})
    for limit in (1, 2, 3, len(sizes), 100):
        for max_bytes in budgets:
            rows, more, _ = services.views.page(JobView.FULL, JobFilter(project_id=project), None, limit, max_bytes)
            assert ([row.job_id for row in rows], more) == expected_cut(newest_first, limit, max_bytes), \
                (limit, max_bytes)
            assert [row.document for row in rows] == [row.document for row in newest_first[:len(rows)]]


def test_a_job_larger_than_the_bytes_allowed_comes_alone_and_the_next_page_goes_on_after_it(
        services: Services, newest_first: list[ViewRow]) -> None:
    project = newest_first[0].document["jobData"]["stress"]["projectId"]["uuid"]
    wanted, seen, after = JobFilter(project_id=project), [], None
    while True:
        rows, more, _ = services.views.page(JobView.FULL, wanted, after, 100, 1)
        assert len(rows) == 1
        seen.append(rows[0].job_id)
        if not more:
            break
        after = PageKey(rows[0].creation_time, rows[0].job_id)
    assert seen == [row.job_id for row in newest_first]


def test_a_jobs_history_and_the_log_are_cut_by_bytes_too(services: Services) -> None:
    job_id, by = unique("history"), Provenance("tester", "writer", "r")
    services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST"}), by)
    for padding in PADDINGS:
        services.jobs.upsert(upsert_request({"jobId": job_id, "jobData": {"stress": {"testRunId": "x" * padding}}},
                                            {"jobData": {"stress": {"testRunId": True}}}), by)
    stored = services.audit.events.stream(stream_id(job_id))
    sizes = [len(p.stored.state) for p in stored]
    running = [sum(sizes[:n + 1]) for n in range(len(sizes))]
    for max_bytes in sorted({1, *running, *(r - 1 for r in running), *(r + 1 for r in running)}):
        for after in range(len(sizes)):
            held = [sum(sizes[after:n + 1]) for n in range(after, len(sizes))]
            fits = max(1, sum(1 for h in held if h <= max_bytes))
            history, more = services.audit.history_page(job_id, after, max_bytes)
            assert [e.event.originator_version for e in history] == list(range(after + 1, after + fits + 1))
            assert more == (after + fits < len(sizes))
            log, next_position, more = services.audit.feed(stored[after].position - 1, 100, max_bytes)
            assert [e.position for e in log] == [p.position for p in stored[after:after + fits]]
            assert next_position == log[-1].position and more == (after + fits < len(sizes))
    log, _, more = services.audit.feed(stored[0].position - 1, 2, 10**9)
    assert len(log) == 2 and more
