"""What the BASIC and FULL views show of a job, and the fields derived when a job is read (pure, no store)."""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobstore.domain.enums import JobStatus, JobView
from jobstore.projections.render import present, runs_on_the_clock, view_document

NOW = datetime(2026, 11, 27, 18, 10, 5, 123456, tzinfo=UTC)
BASIC_VIEWS = [JobView.BASIC, JobView.UNSPECIFIED]  # UNSPECIFIED means BASIC
COMPLETED, RUNNING, FAILED, PENDING = ("TEST_TASK_STATUS_COMPLETED", "TEST_TASK_STATUS_RUNNING",
                                       "TEST_TASK_STATUS_FAILED", "TEST_TASK_STATUS_PENDING")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def job(status: str = "RUNNING", **fields: Any) -> dict[str, Any]:
    """A stored job document; `fields` add to or replace its fields."""
    return {"jobId": "job-1", "jobType": "JOB_TYPE_IMAGE_BUILDER", "status": f"JOB_STATUS_{status}",
            "creationTime": stamp(NOW - timedelta(hours=1)), "cancellationRequested": False, **fields}


def stress_job(batches: list[str] | None, **fields: Any) -> dict[str, Any]:
    stress: dict[str, Any] = {"projectId": {"uuid": "p-1"}, "testRunId": "run-1"}
    if batches is not None:
        stress["progress"] = {"testRun": {"testRunId": "run-1", "status": RUNNING, "testBatches": [
            {"type": f"batch-{i}", "status": s} for i, s in enumerate(batches)]}}
    return job(**{"jobType": "JOB_TYPE_MODEL_STRESS_TEST", "jobData": {"stress": stress}, **fields})


def continuous_job(ct_test_run_ids: list[str], runs: list[str] | None, **fields: Any) -> dict[str, Any]:
    continuous: dict[str, Any] = {"firewallId": "fw-1", "ctTestRunIds": ct_test_run_ids}
    if runs is not None:
        continuous["progress"] = {"testRuns": [
            {"testRun": {"testRunId": f"ct-{i}", "status": s, "testBatches": []},
             "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-01T01:00:00Z"}
            for i, s in enumerate(runs)]}
    return job(**{"jobType": "JOB_TYPE_FIREWALL_BATCH_TEST", "jobData": {"continuousInc": continuous}, **fields})


# --- BASIC and FULL


@pytest.mark.parametrize("view", BASIC_VIEWS)
def test_basic_drops_every_progress_and_the_progress_string_but_keeps_the_rest_of_the_job_data(
        view: JobView) -> None:
    for document, kind in ((stress_job([COMPLETED, RUNNING]), "stress"),
                           (continuous_job(["ct-0", "ct-1"], [COMPLETED]), "continuousInc")):
        shown = present(document, view, NOW)
        assert "progress" not in shown["jobData"][kind]
        assert "jobProgressStr" not in shown
        expected = {k: v for k, v in document["jobData"][kind].items() if k != "progress"}
        assert shown["jobData"][kind] == expected
        assert {k: v for k, v in shown.items() if k not in ("jobData", "runningTimeSecs")} == \
            {k: v for k, v in document.items() if k != "jobData"}


def test_full_keeps_every_progress_as_stored() -> None:
    for document, kind in ((stress_job([COMPLETED, RUNNING]), "stress"),
                           (continuous_job(["ct-0", "ct-1"], [COMPLETED]), "continuousInc")):
        shown = present(document, JobView.FULL, NOW)
        assert shown["jobData"] == document["jobData"]
        assert shown["jobData"][kind]["progress"] == document["jobData"][kind]["progress"]


@pytest.mark.parametrize("view", [JobView.BASIC, JobView.FULL])
def test_reading_a_view_never_changes_the_stored_document(view: JobView) -> None:
    document = stress_job([COMPLETED])
    pristine = copy.deepcopy(document)
    present(document, view, NOW)
    view_document(document, view)
    assert document == pristine


@pytest.mark.parametrize("view", [JobView.BASIC, JobView.FULL])
def test_a_job_without_job_data_is_shown_without_job_data(view: JobView) -> None:
    shown = present(job(), view, NOW)
    assert "jobData" not in shown and "jobProgressStr" not in shown


def test_file_scan_data_is_the_same_in_both_views() -> None:
    document = job(jobType="JOB_TYPE_FILE_SCAN",
                   jobData={"fileScan": {"projectId": {"uuid": "p-1"}, "fileScanId": "scan-1"}})
    assert present(document, JobView.BASIC, NOW)["jobData"] == present(document, JobView.FULL, NOW)["jobData"] == \
        document["jobData"]


# --- jobProgressStr


@pytest.mark.parametrize(("batches", "text"), [
    ([COMPLETED, RUNNING], "1 / 2 tests completed"),
    ([COMPLETED, COMPLETED, COMPLETED], "3 / 3 tests completed"),
    ([PENDING, RUNNING, FAILED, "TEST_TASK_STATUS_CANCELLED"], "0 / 4 tests completed"),
    ([COMPLETED, FAILED, COMPLETED, "TEST_TASK_STATUS_GARBAGE_COLLECTED", PENDING], "2 / 5 tests completed"),
])
def test_a_stress_tests_progress_string_counts_completed_test_batches_out_of_all(
        batches: list[str], text: str) -> None:
    assert present(stress_job(batches), JobView.FULL, NOW)["jobProgressStr"] == text


@pytest.mark.parametrize(("ct_ids", "runs", "text"), [
    (["a", "b", "c", "d"], [COMPLETED, COMPLETED], "2 / 4 time bins completed"),
    (["a", "b"], [COMPLETED, RUNNING], "1 / 2 time bins completed"),
    (["a", "b", "c"], [FAILED, PENDING, RUNNING], "0 / 3 time bins completed"),
    (["a", "b", "c"], [COMPLETED, COMPLETED, COMPLETED], "3 / 3 time bins completed"),
])
def test_a_continuous_tests_progress_string_counts_completed_runs_out_of_its_ct_test_run_ids(
        ct_ids: list[str], runs: list[str], text: str) -> None:
    assert present(continuous_job(ct_ids, runs), JobView.FULL, NOW)["jobProgressStr"] == text


@pytest.mark.parametrize("document", [
    pytest.param(stress_job(None), id="stress-without-progress"),
    pytest.param(continuous_job(["a", "b"], None), id="continuous-without-progress"),
    pytest.param(job(jobType="JOB_TYPE_FILE_SCAN", jobData={"fileScan": {"fileScanId": "s"}}), id="file-scan"),
    pytest.param(job(), id="image-builder"),
])
def test_the_progress_string_is_omitted_where_there_is_no_progress(document: dict[str, Any]) -> None:
    assert "jobProgressStr" not in present(document, JobView.FULL, NOW)


# --- runningTimeSecs


@pytest.mark.parametrize("status", ["REQUESTED", "PENDING", "RECONCILING", "FAILED", "CANCELLED"])
@pytest.mark.parametrize("view", [JobView.BASIC, JobView.FULL])
def test_running_time_is_zero_before_the_job_has_a_start_time(status: str, view: JobView) -> None:
    fields: dict[str, Any] = {}
    if status in ("FAILED", "CANCELLED"):
        fields["completionTime"] = stamp(NOW - timedelta(minutes=5))
    shown = present(job(status, **fields), view, NOW)
    assert shown["runningTimeSecs"] == 0


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
@pytest.mark.parametrize("view", [JobView.BASIC, JobView.FULL])
def test_running_time_of_a_terminal_job_is_completion_minus_start_whatever_the_time_now(
        status: str, view: JobView) -> None:
    start = NOW - timedelta(hours=3)
    document = job(status, startTime=stamp(start), completionTime=stamp(start + timedelta(seconds=90.25)))
    assert present(document, view, NOW)["runningTimeSecs"] == pytest.approx(90.25)
    assert present(document, view, NOW + timedelta(days=2))["runningTimeSecs"] == pytest.approx(90.25)


@pytest.mark.parametrize("status", ["RUNNING", "RECONCILING", "PENDING"])
@pytest.mark.parametrize("view", [JobView.BASIC, JobView.FULL])
def test_running_time_of_a_started_job_that_has_not_ended_is_now_minus_start(status: str, view: JobView) -> None:
    document = job(status, startTime=stamp(NOW - timedelta(seconds=42.5)))
    assert present(document, view, NOW)["runningTimeSecs"] == pytest.approx(42.5)
    assert present(document, view, NOW + timedelta(seconds=10))["runningTimeSecs"] == pytest.approx(52.5)


def test_running_time_is_always_present_in_both_views() -> None:
    for view in (JobView.BASIC, JobView.FULL, JobView.UNSPECIFIED):
        assert "runningTimeSecs" in present(stress_job([COMPLETED]), view, NOW)


@pytest.mark.parametrize("status", [status.value.removeprefix("JOB_STATUS_") for status in JobStatus])
@pytest.mark.parametrize("started", [False, True])
@pytest.mark.parametrize("completed", [False, True])
def test_a_job_runs_on_the_clock_exactly_when_a_later_read_shows_it_otherwise(
        status: str, started: bool, completed: bool) -> None:
    """What reads keep their answer by (adapters/core/answers.py): a job not on the clock shows the same at any
    later time."""
    fields = {}
    if started:
        fields["startTime"] = stamp(NOW - timedelta(hours=2))
    if completed:
        fields["completionTime"] = stamp(NOW - timedelta(hours=1))
    document = stress_job([COMPLETED, RUNNING], **fields) | {"status": f"JOB_STATUS_{status}"}
    for view in (JobView.BASIC, JobView.FULL):
        later = present(document, view, NOW + timedelta(seconds=1)) != present(document, view, NOW)
        assert runs_on_the_clock(document) is later
