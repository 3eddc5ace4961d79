"""The platform's published SDK (rime-sdk 2.13.2) works against jobstore unchanged.

Only the SDK's generated HTTP client is loaded (`rime_sdk.swagger.swagger_client`): the package's own
`__init__` imports the whole SDK (pandas, numpy...), so a bare module with the installed package's `__path__`
stands in for `rime_sdk`. `tests/run` installs the SDK with --no-deps. The SDK's Configuration is shared
process-wide (its api_key dict is shared by every copy), so each test sets the host and key it needs.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok
from tests.e2e.server import upsert as upsert_job

SDK_VERSION = "2.13.2"


def _load_swagger_client() -> types.ModuleType:
    if "rime_sdk" not in sys.modules:
        spec = importlib.util.find_spec("rime_sdk")  # finds the package without running its __init__
        if spec is None or not spec.submodule_search_locations:
            message = f"rime-sdk=={SDK_VERSION} is not installed: run `bash tests/run`, which installs it"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message, allow_module_level=True)
        package = types.ModuleType("rime_sdk")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["rime_sdk"] = package
    return importlib.import_module("rime_sdk.swagger.swagger_client")


sc = _load_swagger_client()
from rime_sdk.swagger.swagger_client.models import (  # noqa: E402
    RimeJobStatus,
    RimeJobType,
    RimeJobView,
    RimeTestTaskStatus,
)
from rime_sdk.swagger.swagger_client.rest import ApiException  # noqa: E402

STRESS, CONTINUOUS, FILE_SCAN = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST", "JOB_TYPE_FILE_SCAN"
REQUESTED, PENDING, RUNNING = "JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"
SUCCEEDED, FAILED, CANCELLED = "JOB_STATUS_SUCCEEDED", "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"
TERMINAL = (RimeJobStatus.SUCCEEDED, RimeJobStatus.FAILED, RimeJobStatus.CANCELLED)


# --- helpers


def upsert(server: Server, key: str, job: dict[str, Any], mask: dict[str, Any] | None = None) -> Reply:
    return ok(upsert_job(server, key, job, mask))


def move(server: Server, key: str, job_id: str, *statuses: str) -> None:
    for status in statuses:
        upsert(server, key, {"jobId": job_id, "status": status}, {"status": True})


def progress(done: int, running: int) -> dict[str, Any]:
    batches = [{"type": f"batch-{i}", "status": "TEST_TASK_STATUS_COMPLETED"} for i in range(done)] + \
              [{"type": f"batch-{done + i}", "status": "TEST_TASK_STATUS_RUNNING"} for i in range(running)]
    return {"testRun": {"testRunId": "run-1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": batches}}


def report(server: Server, key: str, job_id: str, done: int, running: int) -> None:
    upsert(server, key, {"jobId": job_id, "jobData": {"stress": {"progress": progress(done, running)}}},
           {"jobData": {"stress": {"progress": True}}})


def visible(server: Server, key: str, job_id: str, check: Callable[[dict[str, Any]], bool]) -> None:
    reply = server.eventually(f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL", key,
                              lambda r: r.status == 200 and check(r.body["job"]))
    assert reply.status == 200 and check(reply.body["job"]), reply.body


def sdk_progress(job: Any) -> str | None:
    """What the SDK's Job._get_progress computes from a FULL job (rime_sdk/job.py)."""
    if job.job_data.stress.progress is None:
        return None
    batches = job.job_data.stress.progress.test_run.test_batches
    if len(batches) == 0:
        return None
    done = sum(batch.status == RimeTestTaskStatus.COMPLETED for batch in batches)
    return f"{done:<2} / {len(batches):>2} tests completed"


def error_message(error: ApiException) -> str:
    """What the SDK's RESTErrorHandler shows: ast.literal_eval of the body, then ['message']."""
    body = ast.literal_eval(error.body.decode("UTF-8"))
    assert isinstance(body, dict) and set(body) >= {"code", "message", "details"}
    return str(body["message"])


@pytest.fixture
def sdk(server: Server) -> Iterator[Callable[[str], Any]]:
    """A JobReaderApi client of the SDK pointed at this test's server, with the given key.

    The SDK keeps one api_key dict for every Configuration in the process, so the key set last applies to every
    client: make the client right before using it.
    """
    clients: list[Any] = []

    def api(key: str) -> Any:
        configuration = sc.Configuration()
        configuration.host = server.base
        configuration.api_key["rime-api-key"] = key  # the SDK shares this dict process-wide
        client = sc.ApiClient(configuration)
        clients.append(client)
        return sc.JobReaderApi(client)

    yield api
    for client in clients:
        client.pool.close()
        client.pool.join()


# --- GetJob


def test_the_sdk_reads_a_running_job_in_the_basic_view(server: Server, keys: Keys, sdk: Any) -> None:
    job_id, project = unique("sdk-basic"), unique("project")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING, "agentId": {"uuid": "ag"},
                                 "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": "run-1"}}})
    move(server, keys.writer, job_id, RUNNING)
    report(server, keys.writer, job_id, 1, 1)
    visible(server, keys.reader, job_id, lambda j: "jobProgressStr" in j)

    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.BASIC).job
    assert job.job_id == job_id and job.job_type == RimeJobType.MODEL_STRESS_TEST
    assert job.status == RimeJobStatus.RUNNING
    assert job.job_data.stress.project_id.uuid == project and job.job_data.stress.test_run_id == "run-1"
    assert job.job_data.stress.progress is None and job.job_progress_str is None
    assert job.agent_id.uuid == "ag" and job.cancellation_requested is False
    assert job.creation_time.tzinfo is not None and job.creation_time.utcoffset().total_seconds() == 0
    assert job.start_time >= job.creation_time and job.completion_time is None
    assert isinstance(job.running_time_secs, float) and job.running_time_secs >= 0
    assert job.error_msg is None and job.archived_job_logs is None


def test_the_sdk_reads_a_job_without_a_view_the_way_its_client_get_job_does(
        server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-noview")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                 "jobData": {"stress": {"projectId": {"uuid": "p"}, "testRunId": "r"}}})
    report(server, keys.writer, job_id, 0, 2)
    visible(server, keys.reader, job_id, lambda j: "jobProgressStr" in j)
    job = sdk(keys.reader).get_job(job_id=job_id).job
    assert job.job_type == RimeJobType.MODEL_STRESS_TEST and job.status == RimeJobStatus.PENDING
    assert job.job_data.stress.progress is None and job.job_progress_str is None
    assert job.running_time_secs == 0


def test_the_sdk_reads_progress_in_the_full_view(server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-full")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                 "jobData": {"stress": {"projectId": {"uuid": "p"}, "testRunId": "run-1"}}})
    move(server, keys.writer, job_id, RUNNING)
    report(server, keys.writer, job_id, 2, 3)
    visible(server, keys.reader, job_id, lambda j: "jobProgressStr" in j)

    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.FULL).job
    batches = job.job_data.stress.progress.test_run.test_batches
    assert [b.status for b in batches] == [RimeTestTaskStatus.COMPLETED] * 2 + [RimeTestTaskStatus.RUNNING] * 3
    assert [b.type for b in batches] == [f"batch-{i}" for i in range(5)]
    assert job.job_data.stress.progress.test_run.test_run_id == "run-1"
    assert job.job_progress_str == "2 / 5 tests completed"
    assert sdk_progress(job) == "2  /  5 tests completed"


def test_the_sdk_reads_a_continuous_test_in_the_full_view(server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-ct")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": CONTINUOUS, "jobData": {"continuousInc": {
        "firewallId": "fw-1", "ctTestRunIds": ["a", "b", "c"], "progress": {"testRuns": [
            {"testRun": {"testRunId": "a", "status": "TEST_TASK_STATUS_COMPLETED", "testBatches": []},
             "binStartTime": "2026-03-01T00:00:00Z", "binEndTime": "2026-03-01T01:00:00Z"}]}}}})
    visible(server, keys.reader, job_id, lambda j: True)
    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.FULL).job
    data = job.job_data.continuous_inc
    assert data.firewall_id == "fw-1" and data.ct_test_run_ids == ["a", "b", "c"]
    run = data.progress.test_runs[0]
    assert run.test_run.status == RimeTestTaskStatus.COMPLETED
    assert run.bin_start_time == datetime(2026, 3, 1, tzinfo=UTC)
    assert job.job_progress_str == "1 / 3 time bins completed"


def test_the_sdk_reads_a_failed_job_with_its_message_and_archived_logs(
        server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-failed")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                 "jobData": {"stress": {"projectId": {"uuid": "p"}}}})
    move(server, keys.writer, job_id, RUNNING)
    failed = server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_OOMKILLED",
                                                             "errorMsg": "out of memory"}, key=keys.writer)
    assert failed.status == 200
    upsert(server, keys.writer, {"jobId": job_id, "archivedJobLogs": {
        "url": {"url": "https://logs.example/j.tgz"}, "expirationTime": "2031-05-06T07:08:09.5Z"}},
        {"archivedJobLogs": True})
    visible(server, keys.reader, job_id, lambda j: "archivedJobLogs" in j)
    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.FULL).job
    assert job.status == RimeJobStatus.FAILED and job.error_msg == "out of memory"
    assert job.completion_time is not None and job.completion_time >= job.start_time
    assert job.archived_job_logs.url.url == "https://logs.example/j.tgz"
    assert job.archived_job_logs.expiration_time == datetime(2031, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    assert job.to_dict()["error_msg"] == "out of memory"


def test_the_sdk_finds_a_job_whose_id_it_percent_encodes(server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk:odd+id@x%y")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"})
    visible(server, keys.reader, quote(job_id, safe=""), lambda j: True)
    assert sdk(keys.reader).get_job(job_id=job_id).job.job_id == job_id
    sdk(keys.writer).cancel_job(job_id=job_id)
    assert upsert(server, keys.writer, {"jobId": job_id}).body["job"]["cancellationRequested"] is True


# --- ListJobsForProject, page by page, as the SDK's project.list_stress_testing_jobs does


def test_the_sdk_lists_a_project_page_by_page_with_filters_only_on_the_first_page(
        server: Server, keys: Keys, sdk: Any) -> None:
    project = unique("sdk-project")
    expected: dict[str, str] = {}
    for i in range(45):
        job_id = unique(f"sdk-list-{i}")
        status = PENDING if i % 3 else RUNNING
        upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                     "jobData": {"stress": {"projectId": {"uuid": project}}}})
        if status == RUNNING:
            move(server, keys.writer, job_id, RUNNING)
        expected[job_id] = status
    for _ in range(4):  # excluded by the status filter, and by the type filter
        upsert(server, keys.writer, {"jobId": unique("sdk-requested"), "jobType": STRESS,
                                     "jobData": {"stress": {"projectId": {"uuid": project}}}})
        upsert(server, keys.writer, {"jobId": unique("sdk-scan"), "jobType": FILE_SCAN, "status": PENDING,
                                     "jobData": {"fileScan": {"projectId": {"uuid": project}}}})
    server.eventually(f"/v1/jobs/project/{project}?pageSize=100", keys.reader,
                      lambda r: r.status == 200 and len(r.body["jobs"]) == 53
                      and sum(j["status"] == RUNNING for j in r.body["jobs"]) == 15)

    api = sdk(keys.reader)
    page_token: str | None = None
    pages: list[list[Any]] = []
    while True:
        if page_token is None:
            res = api.list_jobs_for_project(
                project_id_uuid=project, page_size=20,
                first_page_query_selected_statuses=[RimeJobStatus.PENDING, RimeJobStatus.RUNNING],
                first_page_query_selected_types=[RimeJobType.MODEL_STRESS_TEST])
        else:
            res = api.list_jobs_for_project(project_id_uuid=project, page_size=20, page_token=page_token)
        pages.append(list(res.jobs))
        if not res.has_more:
            break
        page_token = res.next_page_token
        assert len(pages) < 10
    listed = [job.job_id for page in pages for job in page]
    assert [len(page) for page in pages] == [20, 20, 5]
    assert len(listed) == len(set(listed)) == 45
    assert set(listed) == set(expected)
    assert {job.job_id: job.status for page in pages for job in page} == expected
    times = [(job.creation_time, job.job_id) for page in pages for job in page]
    assert times == sorted(times, reverse=True), "not newest first"


def test_the_sdk_list_of_continuous_tests_for_a_project_is_an_empty_list_not_null(
        server: Server, keys: Keys, sdk: Any) -> None:
    """project.list_scheduled_ct_jobs iterates `res.jobs`; continuous tests belong to no project."""
    project = unique("sdk-ct-project")
    upsert(server, keys.writer, {"jobId": unique("sdk-ct"), "jobType": CONTINUOUS,
                                 "jobData": {"continuousInc": {"firewallId": project}}})
    upsert(server, keys.writer, {"jobId": unique("sdk-st"), "jobType": STRESS,
                                 "jobData": {"stress": {"projectId": {"uuid": project}}}})
    server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: len(r.body.get("jobs", [])) == 1)
    res = sdk(keys.reader).list_jobs_for_project(
        project_id_uuid=project, page_size=20, first_page_query_selected_types=[RimeJobType.FIREWALL_BATCH_TEST],
        first_page_query_internal_created=True)
    assert res.jobs == [] and res.has_more is False


# --- polling until terminal, as BaseJob.get_status(wait_until_finish=True) does


def test_the_sdk_polls_a_job_in_the_full_view_until_it_is_terminal(server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-poll")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                 "jobData": {"stress": {"projectId": {"uuid": "p"}, "testRunId": "run-9"}}})
    visible(server, keys.reader, job_id, lambda j: True)

    def agent() -> None:
        time.sleep(0.15)
        move(server, keys.writer, job_id, RUNNING)
        for done in range(1, 4):
            time.sleep(0.1)
            report(server, keys.writer, job_id, done, 3 - done)
        time.sleep(0.1)
        move(server, keys.writer, job_id, SUCCEEDED)

    worker = threading.Thread(target=agent)
    worker.start()
    api = sdk(keys.reader)
    seen_status: list[str] = []
    seen_progress: list[str] = []
    try:
        job = api.get_job(job_id=job_id, view=RimeJobView.FULL).job
        datetime.fromtimestamp(job.creation_time.timestamp())
        deadline = time.monotonic() + 15
        while job.status not in TERMINAL:
            assert time.monotonic() < deadline, f"the job never became terminal: {seen_status}"
            time.sleep(0.02)
            job = api.get_job(job_id=job_id, view=RimeJobView.FULL).job
            text = sdk_progress(job)
            minute, second = divmod(job.running_time_secs, 60)
            hour, minute = divmod(minute, 60)
            line = "Status: {}, Running Time: {:02}:{:02}:{:05.2f}".format(  # noqa: UP032 - as the SDK prints it
                job.status, int(hour), int(minute), second)
            assert line.startswith("Status: JOB_STATUS_")
            assert isinstance(job.cancellation_requested, bool)
            if not seen_status or seen_status[-1] != job.status:
                seen_status.append(job.status)
            if text and (not seen_progress or seen_progress[-1] != text):
                seen_progress.append(text)
    finally:
        worker.join()
    assert seen_status[-1] == SUCCEEDED
    order = [PENDING, RUNNING, SUCCEEDED]
    assert [order.index(s) for s in seen_status] == sorted(order.index(s) for s in seen_status), seen_status
    assert seen_progress and seen_progress == sorted(seen_progress), seen_progress
    assert job.job_progress_str == "3 / 3 tests completed"
    assert job.completion_time is not None and job.running_time_secs > 0
    final = api.get_job(job_id=job_id, view=RimeJobView.FULL).job
    assert final.running_time_secs == pytest.approx(job.running_time_secs, abs=1e-3), "clock runs after the end"
    assert final.to_dict()["status"] == SUCCEEDED
    assert api.get_test_run_id(job_id=job_id).test_run_id == "run-9"
    assert api.get_project_id(job_id=job_id).project_id.uuid == "p"


# --- CancelJob


def test_the_sdk_cancels_a_job_and_then_sees_it_cancelled(server: Server, keys: Keys, sdk: Any) -> None:
    job_id = unique("sdk-cancel")
    upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS, "status": PENDING,
                                 "jobData": {"stress": {"projectId": {"uuid": "p"}}}})
    move(server, keys.writer, job_id, RUNNING)
    response = sdk(keys.writer).cancel_job(job_id=job_id)
    assert response == {} or response.to_dict() == {}
    visible(server, keys.reader, job_id, lambda j: j["cancellationRequested"] is True)
    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.FULL).job
    assert job.cancellation_requested is True and job.status == RimeJobStatus.RUNNING
    assert sdk(keys.writer).cancel_job(job_id=job_id) == {}, "a second cancel changes nothing and still succeeds"

    finalized = server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer)
    assert finalized.status == 200
    visible(server, keys.reader, job_id, lambda j: j["status"] == CANCELLED)
    job = sdk(keys.reader).get_job(job_id=job_id, view=RimeJobView.FULL).job
    assert job.status in TERMINAL and job.status == RimeJobStatus.CANCELLED and job.completion_time is not None


# --- errors, as the SDK reports them


def test_sdk_errors_carry_bodies_its_error_handler_can_read(server: Server, keys: Keys, sdk: Any) -> None:
    missing = unique("sdk-missing")
    with pytest.raises(ApiException) as not_found:
        sdk(keys.reader).get_job(job_id=missing)
    assert not_found.value.status == 404 and missing in error_message(not_found.value)

    done = unique("sdk-done")
    upsert(server, keys.writer, {"jobId": done, "jobType": STRESS, "status": PENDING})
    move(server, keys.writer, done, RUNNING, SUCCEEDED)
    with pytest.raises(ApiException) as terminal:
        sdk(keys.writer).cancel_job(job_id=done)
    assert terminal.value.status == 400 and error_message(terminal.value)

    with pytest.raises(ApiException) as denied:
        sdk(keys.reader).cancel_job(job_id=done)
    assert denied.value.status == 403 and error_message(denied.value)

    with pytest.raises(ApiException) as unauthenticated:
        sdk("jsk_0000000000000000_not-a-real-key").get_job(job_id=done)
    assert unauthenticated.value.status == 401 and error_message(unauthenticated.value)

    with pytest.raises(ApiException) as bad_view:
        sdk(keys.reader).get_job(job_id=done, view="JOB_VIEW_SOMETIMES")
    assert bad_view.value.status == 400 and "view" in error_message(bad_view.value)
