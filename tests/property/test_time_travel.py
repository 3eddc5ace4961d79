"""Time travel: for every prefix of a generated history, the job `?version=N` and `?asOf=<recordedAt of N>`
equal the state after the first N events, rebuilt from the log."""
from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobstore.adapters.runtime import Services
from jobstore.domain.document import JobDocument, merge
from jobstore.domain.enums import JobStatus, TerminationReason
from jobstore.domain.errors import JobNotFound, JobStoreError, OutOfRange
from jobstore.domain.job import Provenance
from jobstore.domain.values import JobMetadata
from tests.conftest import fail_request, unique, upsert_request

BY = Provenance("time-traveller", "writer", "tt")
MOVES = st.sampled_from(["pending", "running", "reconciling", "agent", "progress", "cancel", "finalize", "fail",
                         "succeed"])


def apply(services: Services, job_id: str, move: str, n: int) -> None:
    jobs = services.jobs
    statuses = {"pending": JobStatus.PENDING, "running": JobStatus.RUNNING, "reconciling": JobStatus.RECONCILING,
                "succeed": JobStatus.SUCCEEDED}
    if move in statuses:
        jobs.upsert(upsert_request(JobMetadata(job_id=job_id, status=statuses[move]), {"status": True}), BY)
    elif move == "agent":
        jobs.upsert(upsert_request({"jobId": job_id, "agentId": {"uuid": f"agent-{n % 3}"}}, {"agentId": True}), BY)
    elif move == "progress":
        progress = {"testRun": {"testBatches": [{"type": f"b{i}", "status": "TEST_TASK_STATUS_COMPLETED"}
                                                for i in range(n % 4)]}}
        jobs.upsert(upsert_request({"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
                                   {"jobData": {"stress": {"progress": True}}}), BY)
    elif move == "cancel":
        jobs.request_cancellation(job_id, BY)
    elif move == "finalize":
        jobs.finalize_cancellation(job_id, BY)
    else:
        jobs.fail(job_id, fail_request(TerminationReason.GENERIC_ERROR, f"failure {n}"), BY)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moves=st.lists(MOVES, min_size=1, max_size=15))
def test_every_prefix_of_a_history_is_what_version_and_as_of_return(services: Services, moves: list[str]) -> None:
    job_id = unique("tt")
    services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                                     "jobData": {"stress": {"projectId": {"uuid": "p"}}}}), BY)
    for n, move in enumerate(moves):
        with contextlib.suppress(JobStoreError):  # illegal moves store nothing; the history is what was accepted
            apply(services, job_id, move, n)
    history = services.audit.history(job_id)
    expected: JobDocument = {}
    for n, recorded in enumerate(history, start=1):
        expected = merge(expected, recorded.event.data)
        by_version, _ = services.audit.at_version(job_id, n)
        assert by_version == expected
        by_time, _ = services.audit.as_of(job_id, recorded.event.timestamp)
        assert by_time == expected
        if n < len(history) and history[n].event.timestamp - recorded.event.timestamp >= timedelta(microseconds=2):
            halfway = recorded.event.timestamp + (history[n].event.timestamp - recorded.event.timestamp) / 2
            assert services.audit.as_of(job_id, halfway)[0] == expected
    with pytest.raises(OutOfRange):
        services.audit.at_version(job_id, len(history) + 1)
    with pytest.raises(JobNotFound):
        services.audit.as_of(job_id, history[0].event.timestamp - timedelta(microseconds=1))
    later, _ = services.audit.as_of(job_id, history[-1].event.timestamp + timedelta(days=1))
    assert later == expected
