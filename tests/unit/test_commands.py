"""JobManager's commands FailJob, RequestCancellation and FinalizeCancellation, and what each one appends."""
from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from jobstore.domain.application import Jobs
from jobstore.domain.enums import TerminationReason
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobNotFound
from jobstore.domain.job import Job, Provenance, stream_id
from jobstore.domain.requests import FailJobRequest, FinalizeCancellationRequest, parse_request
from jobstore.domain.values import parse_job_id
from tests.conftest import fail_request, unique, upsert_request

WHO = Provenance(actor="command-tests", role="writer", request_id="req-commands")
NON_TERMINAL = ["REQUESTED", "PENDING", "RUNNING", "RECONCILING"]
PATH_TO = {"REQUESTED": [], "PENDING": ["PENDING"], "RUNNING": ["PENDING", "RUNNING"],
           "RECONCILING": ["PENDING", "RUNNING", "RECONCILING"], "SUCCEEDED": ["PENDING", "RUNNING", "SUCCEEDED"]}
OOM, GENERIC = TerminationReason.OOMKILLED, TerminationReason.GENERIC_ERROR
UNSPECIFIED = TerminationReason.UNSPECIFIED


def upsert(jobs: Jobs, job: dict[str, Any], bits: dict[str, Any] | None = None,
           by: Provenance = WHO) -> Any:
    return jobs.upsert(upsert_request(job, bits or {}), by)


def job_in(jobs: Jobs, status: str, cancellation_requested: bool = False) -> str:
    """A fresh stress test job brought to `status` by legal steps."""
    job_id = unique("cmd")
    upsert(jobs, {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                      "jobData": {"stress": {"projectId": {"uuid": "p-1"}, "testRunId": "run-1"}}})
    if status == "FAILED":
        jobs.fail(job_id, fail_request(OOM, "out of memory"), WHO)
    elif status == "CANCELLED":
        jobs.request_cancellation(job_id, WHO)
        jobs.finalize_cancellation(job_id, WHO)
    else:
        for step in PATH_TO[status]:
            upsert(jobs, {"jobId": job_id, "status": f"JOB_STATUS_{step}"}, {"status": True})
    if cancellation_requested and status not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        jobs.request_cancellation(job_id, WHO)
    assert document(jobs, job_id)["status"] == f"JOB_STATUS_{status}"
    return job_id


def document(jobs: Jobs, job_id: str) -> dict[str, Any]:
    return copy.deepcopy(jobs.job(job_id).document)


def version(jobs: Jobs, job_id: str) -> int:
    return int(jobs.job(job_id).version)


def events(jobs: Jobs, job_id: str) -> list[Any]:
    return list(jobs.repository.event_store.get(stream_id(job_id)))


def moment(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_refused_and_nothing_stored(jobs: Jobs, job_id: str, error: type[Exception],
                                      command: Callable[[], Any]) -> None:
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    with pytest.raises(error):
        command()
    assert version(jobs, job_id) == version_before
    assert document(jobs, job_id) == before


# --- FailJob


@pytest.mark.parametrize("reason", [None, TerminationReason.UNSPECIFIED], ids=["missing", "UNSPECIFIED"])
def test_failing_a_job_without_a_termination_reason_is_invalid_argument(
        jobs: Jobs, reason: TerminationReason | None) -> None:
    job_id = job_in(jobs, "RUNNING")
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument,
                                      lambda: jobs.fail(job_id, fail_request(reason, "boom"), WHO))


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_failing_a_terminal_job_without_a_reason_is_invalid_argument_before_failed_precondition(
        jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument,
                                      lambda: jobs.fail(job_id, fail_request(UNSPECIFIED, "x"), WHO))


def test_failing_an_unknown_job_without_a_reason_is_invalid_argument_before_not_found(jobs: Jobs) -> None:
    with pytest.raises(InvalidArgument):
        jobs.fail(unique("ghost"), fail_request(None, "boom"), WHO)


def test_failing_an_unknown_job_is_job_not_found_and_creates_nothing(jobs: Jobs) -> None:
    job_id = unique("ghost")
    with pytest.raises(JobNotFound):
        jobs.fail(job_id, fail_request(OOM, "boom"), WHO)
    with pytest.raises(JobNotFound):
        jobs.job(job_id)


@pytest.mark.parametrize("job_id", ["", "a/b", "a b", "x" * 129], ids=["empty", "slash", "space", "129-chars"])
def test_a_malformed_job_id_is_invalid_argument_naming_where_it_came_from(job_id: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^jobId: "):
        parse_job_id(job_id)
    with pytest.raises(InvalidArgument, match=r"^job\.jobId: "):
        upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})


@pytest.mark.parametrize("cancellation_requested", [False, True], ids=["plain", "cancellation-requested"])
@pytest.mark.parametrize("status", NON_TERMINAL)
def test_failing_a_non_terminal_job_sets_failed_completion_time_reason_and_message(
        jobs: Jobs, status: str, cancellation_requested: bool) -> None:
    job_id = job_in(jobs, status, cancellation_requested)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    started = datetime.now(UTC)
    outcome = jobs.fail(job_id, fail_request(GENERIC, "the model did not load"), WHO)
    finished = datetime.now(UTC)
    after = document(jobs, job_id)
    assert after["status"] == "JOB_STATUS_FAILED"
    assert after["terminationReason"] == "TERMINATION_REASON_GENERIC_ERROR"
    assert after["errorMsg"] == "the model did not load"
    assert started <= moment(after["completionTime"]) <= finished
    assert after.get("startTime") == before.get("startTime")
    assert after["cancellationRequested"] is cancellation_requested
    assert outcome.document == after and outcome.position is not None
    assert version(jobs, job_id) == version_before + 1
    assert type(events(jobs, job_id)[-1]).__name__ == "Failed"


def test_failing_without_an_error_message_leaves_error_msg_unset(jobs: Jobs) -> None:
    job_id = job_in(jobs, "RUNNING")
    jobs.fail(job_id, fail_request(OOM, None), WHO)
    after = document(jobs, job_id)
    assert after["status"] == "JOB_STATUS_FAILED" and "errorMsg" not in after


@pytest.mark.parametrize("message", ["out of memory", None], ids=["with-message", "without-message"])
def test_failing_a_failed_job_again_with_the_same_reason_and_message_changes_nothing(
        jobs: Jobs, message: str | None) -> None:
    job_id = job_in(jobs, "RUNNING")
    jobs.fail(job_id, fail_request(OOM, message), WHO)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    outcome = jobs.fail(job_id, fail_request(OOM, message), WHO)
    assert outcome.position is None
    assert outcome.document == before
    assert version(jobs, job_id) == version_before and document(jobs, job_id) == before


@pytest.mark.parametrize(("reason", "message"), [(GENERIC, "out of memory"), (OOM, "another message"),
                                                 (OOM, None)],
                         ids=["other-reason", "other-message", "message-dropped"])
def test_failing_a_failed_job_differently_is_failed_precondition(
        jobs: Jobs, reason: TerminationReason, message: str | None) -> None:
    job_id = job_in(jobs, "FAILED")  # failed with OOMKILLED, "out of memory"
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      lambda: jobs.fail(job_id, fail_request(reason, message), WHO))


@pytest.mark.parametrize("status", ["SUCCEEDED", "CANCELLED"])
def test_failing_a_succeeded_or_cancelled_job_is_failed_precondition(jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      lambda: jobs.fail(job_id, fail_request(OOM, "out of memory"), WHO))


# --- RequestCancellation


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_requesting_cancellation_marks_the_job_and_leaves_its_status_alone(jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    assert before["cancellationRequested"] is False
    outcome = jobs.request_cancellation(job_id, WHO)
    after = document(jobs, job_id)
    assert after == {**before, "cancellationRequested": True}
    assert outcome.position is not None
    assert version(jobs, job_id) == version_before + 1
    assert type(events(jobs, job_id)[-1]).__name__ == "CancellationRequested"


def test_a_job_whose_cancellation_was_requested_keeps_running_until_it_is_finalized(jobs: Jobs) -> None:
    job_id = job_in(jobs, "PENDING", cancellation_requested=True)
    for step in ("RUNNING", "RECONCILING", "RUNNING"):
        upsert(jobs, {"jobId": job_id, "status": f"JOB_STATUS_{step}"}, {"status": True})
        after = document(jobs, job_id)
        assert after["status"] == f"JOB_STATUS_{step}" and after["cancellationRequested"] is True
    assert "startTime" in after and "completionTime" not in after


def test_requesting_cancellation_a_second_time_changes_nothing(jobs: Jobs) -> None:
    job_id = job_in(jobs, "RUNNING", cancellation_requested=True)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    outcome = jobs.request_cancellation(job_id, WHO)
    assert outcome.position is None and outcome.document == before
    assert version(jobs, job_id) == version_before and document(jobs, job_id) == before


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_requesting_cancellation_of_a_terminal_job_is_failed_precondition(jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      lambda: jobs.request_cancellation(job_id, WHO))


def test_requesting_cancellation_of_an_unknown_job_is_job_not_found(jobs: Jobs) -> None:
    job_id = unique("ghost")
    with pytest.raises(JobNotFound):
        jobs.request_cancellation(job_id, WHO)
    with pytest.raises(JobNotFound):
        jobs.job(job_id)


# --- FinalizeCancellation


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_finalizing_without_a_cancellation_request_is_failed_precondition(jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      lambda: jobs.finalize_cancellation(job_id, WHO))


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_finalizing_a_requested_cancellation_sets_cancelled_and_completion_time(
        jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status, cancellation_requested=True)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    started = datetime.now(UTC)
    outcome = jobs.finalize_cancellation(job_id, WHO)
    finished = datetime.now(UTC)
    after = document(jobs, job_id)
    assert after["status"] == "JOB_STATUS_CANCELLED" and after["cancellationRequested"] is True
    assert started <= moment(after["completionTime"]) <= finished
    assert {k: v for k, v in after.items() if k not in ("status", "completionTime")} == \
        {k: v for k, v in before.items() if k != "status"}, "finalizing changes only status and completionTime"
    assert outcome.document == after and outcome.position is not None
    assert version(jobs, job_id) == version_before + 1
    assert type(events(jobs, job_id)[-1]).__name__ == "CancellationFinalized"


def test_finalizing_a_cancelled_job_again_changes_nothing(jobs: Jobs) -> None:
    job_id = job_in(jobs, "CANCELLED")
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    outcome = jobs.finalize_cancellation(job_id, WHO)
    assert outcome.position is None and outcome.document == before
    assert version(jobs, job_id) == version_before and document(jobs, job_id) == before


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_finalizing_a_job_that_ended_otherwise_is_failed_precondition_even_after_a_request(
        jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, "RUNNING", cancellation_requested=True)
    if status == "FAILED":
        jobs.fail(job_id, fail_request(OOM, "out of memory"), WHO)
    else:
        upsert(jobs, {"jobId": job_id, "status": "JOB_STATUS_SUCCEEDED"}, {"status": True})
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      lambda: jobs.finalize_cancellation(job_id, WHO))
    assert document(jobs, job_id)["status"] == f"JOB_STATUS_{status}"


def test_finalizing_the_cancellation_of_an_unknown_job_is_job_not_found(jobs: Jobs) -> None:
    with pytest.raises(JobNotFound):
        jobs.finalize_cancellation(unique("ghost"), WHO)


# --- a command that would change nothing appends nothing

NO_OPS: dict[str, tuple[str, Callable[[Jobs, str], Any]]] = {
    "upsert-same-status": ("RUNNING", lambda s, j: upsert(s, {"jobId": j, "status": "JOB_STATUS_RUNNING"},
                                                          {"status": True})),
    "upsert-same-job-data": ("RUNNING", lambda s, j: upsert(s, {"jobId": j, "jobData": {"stress": {
        "testRunId": "run-1"}}}, {"jobData": {"stress": {"testRunId": True}}})),
    "upsert-without-mask": ("RUNNING", lambda s, j: upsert(s, {"jobId": j, "agentId": {"uuid": "other"}})),
    "recreate-same-fields": ("REQUESTED", lambda s, j: upsert(s, {"jobId": j, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                                                  "jobData": {"stress": {"testRunId": "run-1"}}})),
    "fail-again": ("FAILED", lambda s, j: s.fail(j, fail_request(OOM, "out of memory"), WHO)),
    "request-again": ("CANCELLATION_REQUESTED", lambda s, j: s.request_cancellation(j, WHO)),
    "finalize-again": ("CANCELLED", lambda s, j: s.finalize_cancellation(j, WHO)),
}


@pytest.mark.parametrize("case", list(NO_OPS))
def test_a_command_that_would_change_nothing_appends_nothing_and_returns_the_job_as_it_is(
        jobs: Jobs, case: str) -> None:
    status, command = NO_OPS[case]
    job_id = (job_in(jobs, "RUNNING", cancellation_requested=True) if status == "CANCELLATION_REQUESTED"
              else job_in(jobs, status))
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    head = jobs.recorder.max_notification_id()
    outcome = command(jobs, job_id)
    assert outcome.position is None
    assert outcome.document == before
    assert version(jobs, job_id) == version_before
    assert jobs.recorder.max_notification_id() == head, "nothing was appended to the global log"


# --- what each event records

COMMANDS: dict[str, tuple[str, str, Callable[[Jobs, str, Provenance], Any]]] = {
    # name: (status to start from, expected event class, command)
    "create": ("", "Created", lambda s, j, by: upsert(s, {"jobId": j, "jobType": "JOB_TYPE_IMAGE_BUILDER"}, by=by)),
    "upsert": ("REQUESTED", "Upserted",
               lambda s, j, by: upsert(s, {"jobId": j, "status": "JOB_STATUS_PENDING"}, {"status": True}, by=by)),
    "fail": ("RUNNING", "Failed", lambda s, j, by: s.fail(j, fail_request(OOM, "out of memory"), by)),
    "request-cancellation": ("RUNNING", "CancellationRequested",
                             lambda s, j, by: s.request_cancellation(j, by)),
    "finalize-cancellation": ("CANCELLATION_REQUESTED", "CancellationFinalized",
                              lambda s, j, by: s.finalize_cancellation(j, by)),
}


@pytest.mark.parametrize("case", list(COMMANDS))
def test_each_accepted_command_appends_one_event_that_records_who_asked_for_it(
        jobs: Jobs, case: str) -> None:
    status, event_name, command = COMMANDS[case]
    if not status:
        job_id = unique("cmd")
    elif status == "CANCELLATION_REQUESTED":
        job_id = job_in(jobs, "RUNNING", cancellation_requested=True)
    else:
        job_id = job_in(jobs, status)
    count_before = len(events(jobs, job_id)) if status else 0
    by = Provenance(actor=unique("key"), role="admin", request_id=unique("req"))

    outcome = command(jobs, job_id, by)

    stream = events(jobs, job_id)
    assert len(stream) == count_before + 1
    event = stream[-1]
    assert type(event).__name__ == event_name
    assert (event.actor, event.role, event.request_id) == (by.actor, by.role, by.request_id)

    # The same event, read from the global log at the position the command returned.
    notifications = jobs.recorder.select_notifications(start=outcome.position, limit=1)
    assert [n.id for n in notifications] == [outcome.position]
    logged = jobs.mapper.to_domain_event(notifications[0])
    assert isinstance(logged, Job.Event)
    assert logged.originator_id == stream_id(job_id)
    assert (logged.actor, logged.role, logged.request_id) == (by.actor, by.role, by.request_id)
    assert logged.data == event.data


def test_the_events_of_a_job_replay_to_the_job_the_commands_returned(jobs: Jobs) -> None:
    job_id = unique("replay")
    last = upsert(jobs, {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST"})
    last = upsert(jobs, {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, {"status": True})
    last = jobs.request_cancellation(job_id, WHO)
    last = jobs.finalize_cancellation(job_id, WHO)
    names = [type(e).__name__ for e in events(jobs, job_id)]
    assert names == ["Created", "Upserted", "CancellationRequested", "CancellationFinalized"]
    assert document(jobs, job_id) == last.document
    positions = [n.id for n in jobs.recorder.select_notifications(start=1, limit=100)
                 if n.originator_id == stream_id(job_id)]
    assert positions == sorted(positions) and positions[-1] == last.position


# --- the published gRPC requests' fields: FailJob and FinalizeCancellation name the job's type, FailJob its logs

LOGS = {"url": {"url": "https://logs.example.com/job"}, "expirationTime": "2026-12-24T00:00:00Z"}


def failing(reason: TerminationReason, **fields: Any) -> Any:
    return parse_request(FailJobRequest, {"terminationReason": reason, **fields})


def test_failing_with_the_jobs_own_type_fails_it(jobs: Jobs) -> None:
    job_id = job_in(jobs, "RUNNING")
    jobs.fail(job_id, failing(OOM, jobType="JOB_TYPE_MODEL_STRESS_TEST"), WHO)
    assert document(jobs, job_id)["status"] == "JOB_STATUS_FAILED"


@pytest.mark.parametrize("status", ["RUNNING", "FAILED"])
def test_failing_with_another_job_type_is_invalid_argument_and_stores_nothing(jobs: Jobs, status: str) -> None:
    job_id = job_in(jobs, status)
    before = version(jobs, job_id)
    with pytest.raises(InvalidArgument) as refused:
        jobs.fail(job_id, failing(OOM, jobType="JOB_TYPE_FILE_SCAN"), WHO)
    assert refused.value.field == "jobType" and "JOB_TYPE_MODEL_STRESS_TEST" in refused.value.message
    assert version(jobs, job_id) == before


def test_failing_with_archived_logs_writes_them_with_the_failure_in_one_event(jobs: Jobs) -> None:
    job_id = job_in(jobs, "RUNNING")
    before = version(jobs, job_id)
    jobs.fail(job_id, failing(OOM, archivedJobLogs=LOGS), WHO)
    after = document(jobs, job_id)
    assert after["status"] == "JOB_STATUS_FAILED" and after["archivedJobLogs"] == LOGS
    assert version(jobs, job_id) == before + 1
    again = jobs.fail(job_id, failing(OOM, archivedJobLogs=LOGS), WHO)
    assert again.position is None, "the same failure with the same logs changes nothing"
    with pytest.raises(FailedPrecondition):
        jobs.fail(job_id, failing(OOM, archivedJobLogs={**LOGS, "expirationTime": "2027-01-01T00:00:00Z"}), WHO)


def test_finalizing_with_another_job_type_is_invalid_argument_and_with_its_own_cancels(jobs: Jobs) -> None:
    job_id = job_in(jobs, "RUNNING", cancellation_requested=True)
    with pytest.raises(InvalidArgument) as refused:
        jobs.finalize_cancellation(job_id, WHO, parse_request(FinalizeCancellationRequest,
                                                              {"jobType": "JOB_TYPE_IMAGE_BUILDER"}))
    assert refused.value.field == "jobType"
    assert document(jobs, job_id)["status"] == "JOB_STATUS_RUNNING"
    jobs.finalize_cancellation(job_id, WHO, parse_request(FinalizeCancellationRequest,
                                                          {"jobType": "JOB_TYPE_MODEL_STRESS_TEST"}))
    assert document(jobs, job_id)["status"] == "JOB_STATUS_CANCELLED"
