"""Every route of the contract over HTTP, against a real `jobstore serve`, and the wire format it speaks.

Reads come from the projections, which follow the log a little behind the writes, so every read that must see a
write waits for it with `server.eventually(...)`.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok, upsert

STRESS = "JOB_TYPE_MODEL_STRESS_TEST"
CONTINUOUS = "JOB_TYPE_FIREWALL_BATCH_TEST"
FILE_SCAN = "JOB_TYPE_FILE_SCAN"
IMAGE = "JOB_TYPE_IMAGE_BUILDER"
REQUESTED, PENDING, RUNNING = "JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"
RECONCILING, SUCCEEDED = "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED"
FAILED, CANCELLED = "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"
STATUSES = {"JOB_STATUS_UNSPECIFIED", REQUESTED, PENDING, RUNNING, RECONCILING, SUCCEEDED, FAILED, CANCELLED}
TYPES = {STRESS, CONTINUOUS, FILE_SCAN, IMAGE}
ALWAYS_PRESENT = {"jobId", "jobType", "status", "creationTime", "runningTimeSecs", "cancellationRequested"}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$")
FULL_ONLY = "jobProgressStr"


# --- helpers


def stress_job(job_id: str, project: str | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"testRunId": f"run-of-{job_id}"}
    if project is not None:
        data["projectId"] = {"uuid": project}
    return {"jobId": job_id, "jobType": STRESS, "jobData": {"stress": data}, **extra}


def move(server: Server, key: str, job_id: str, *statuses: str) -> Reply:
    reply: Reply | None = None
    for status in statuses:
        reply = ok(upsert(server, key, {"jobId": job_id, "status": status}, {"status": True}))
        assert reply.body["job"]["status"] == status
    assert reply is not None
    return reply


def no_nulls(value: Any, where: str = "$") -> None:
    """A response never sends a field as null: unset fields are omitted."""
    assert value is not None, f"{where} is null"
    if isinstance(value, dict):
        for k, v in value.items():
            no_nulls(v, f"{where}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            no_nulls(v, f"{where}[{i}]")


def well_formed(job: dict[str, Any]) -> dict[str, Any]:
    """The wire-format rules every job in every response keeps."""
    no_nulls(job)
    assert set(job) >= ALWAYS_PRESENT, f"missing {ALWAYS_PRESENT - set(job)} in {job}"
    assert job["status"] in STATUSES and job["status"] != "JOB_STATUS_UNSPECIFIED"
    assert job["jobType"] in TYPES
    assert isinstance(job["runningTimeSecs"], int | float) and not isinstance(job["runningTimeSecs"], bool)
    assert isinstance(job["cancellationRequested"], bool)
    for field in ("creationTime", "startTime", "completionTime"):
        if field in job:
            assert RFC3339_UTC.match(job[field]), f"{field}={job[field]!r} is not RFC 3339 UTC with Z"
    return job


def read(server: Server, key: str, job_id: str, check: Callable[[dict[str, Any]], bool],
         view: str | None = None) -> dict[str, Any]:
    """GetJob until the view shows what `check` wants; fails when it never does."""
    path = f"/v1/jobs/{quote(job_id, safe='')}" + (f"?view={view}" if view is not None else "")
    reply = server.eventually(path, key, lambda r: r.status == 200 and check(r.body["job"]))
    assert reply.status == 200, (reply.status, reply.body)
    assert check(reply.body["job"]), f"the view never showed the expected job: {reply.body}"
    return well_formed(reply.body["job"])


def query(path: str, *pairs: tuple[str, Any]) -> str:
    return path + ("?" + urlencode([(k, str(v)) for k, v in pairs]) if pairs else "")


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, (reply.status, reply.body)
    return [j["jobId"] for j in reply.body["jobs"]]


def statuses_filter(*values: str) -> list[tuple[str, str]]:
    return [("firstPageQuery.selectedStatuses", v) for v in values]


def types_filter(*values: str) -> list[tuple[str, str]]:
    return [("firstPageQuery.selectedTypes", v) for v in values]


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


def newest_first(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["jobId"] for j in sorted(jobs, key=lambda j: (parse(j["creationTime"]), j["jobId"]), reverse=True)]


# --- UpsertJob


def test_an_upsert_of_a_new_job_creates_it_in_requested_with_every_always_present_field(
        server: Server, keys: Keys) -> None:
    job_id, project = unique("create"), unique("project")
    before = time.time()
    reply = ok(upsert(server, keys.writer, stress_job(job_id, project)))
    job = well_formed(reply.body["job"])
    assert set(reply.body) == {"job"}
    assert job["jobId"] == job_id and job["jobType"] == STRESS and job["status"] == REQUESTED
    assert job["cancellationRequested"] is False and job["runningTimeSecs"] == 0
    assert job["jobData"] == {"stress": {"projectId": {"uuid": project}, "testRunId": f"run-of-{job_id}"}}
    assert abs(parse(job["creationTime"]).timestamp() - before) < 60
    for unset in ("startTime", "completionTime", "terminationReason", "agentId", "archivedJobLogs", "errorMsg",
                  "jobProgressStr"):
        assert unset not in job, f"{unset} is unset and must be omitted"
    assert int(reply.headers["x-jobstore-position"]) >= 1

    shown = read(server, keys.reader, job_id, lambda j: True)
    assert {k: v for k, v in shown.items() if k != "runningTimeSecs"} == \
        {k: v for k, v in job.items() if k != "runningTimeSecs"}


def test_a_new_job_may_start_in_pending_when_the_upsert_says_so(server: Server, keys: Keys) -> None:
    job_id = unique("pending")
    job = ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE, "status": PENDING})).body["job"]
    assert job["status"] == PENDING
    assert "jobData" not in job
    assert read(server, keys.reader, job_id, lambda j: True)["status"] == PENDING


def test_a_new_job_takes_every_field_it_carries_without_a_mask(server: Server, keys: Keys) -> None:
    job_id = unique("full-create")
    sent = {"jobId": job_id, "jobType": CONTINUOUS, "agentId": {"uuid": "agent-9"},
            "terminationReason": "TERMINATION_REASON_GENERIC_ERROR",
            "archivedJobLogs": {"url": {"url": "https://logs.example/1"}, "expirationTime": "2031-01-02T03:04:05Z"},
            "jobData": {"continuousInc": {"firewallId": "fw-1", "ctTestRunIds": ["a", "b"]}}}
    job = ok(upsert(server, keys.writer, sent)).body["job"]
    for field in ("agentId", "terminationReason", "jobData"):
        assert job[field] == sent[field]
    assert job["archivedJobLogs"]["url"] == {"url": "https://logs.example/1"}
    assert parse(job["archivedJobLogs"]["expirationTime"]) == parse("2031-01-02T03:04:05Z")
    assert RFC3339_UTC.match(job["archivedJobLogs"]["expirationTime"])
    assert read(server, keys.reader, job_id, lambda j: True)["agentId"] == {"uuid": "agent-9"}


def test_an_upsert_of_an_existing_job_writes_only_the_fields_whose_mask_bit_is_set(
        server: Server, keys: Keys) -> None:
    job_id = unique("mask")
    ok(upsert(server, keys.writer, stress_job(job_id, "p-1")))
    reply = ok(upsert(server, keys.writer, {
        "jobId": job_id, "status": PENDING, "agentId": {"uuid": "agent-1"},
        "archivedJobLogs": {"url": {"url": "https://logs.example/x"}},
        "jobData": {"stress": {"projectId": {"uuid": "p-2"}, "testRunId": "run-2"}}},
        {"agentId": True, "jobData": {"stress": {"testRunId": True}}}))
    job = reply.body["job"]
    assert job["agentId"] == {"uuid": "agent-1"}
    assert job["status"] == REQUESTED, "status was not in the mask"
    assert "archivedJobLogs" not in job, "archivedJobLogs was not in the mask"
    assert job["jobData"]["stress"] == {"projectId": {"uuid": "p-1"}, "testRunId": "run-2"}
    shown = read(server, keys.reader, job_id, lambda j: "agentId" in j)
    assert shown["status"] == REQUESTED and shown["jobData"]["stress"]["projectId"] == {"uuid": "p-1"}


def test_an_upsert_with_no_mask_bit_set_writes_nothing_and_returns_the_job_as_it_is(
        server: Server, keys: Keys) -> None:
    job_id = unique("nomask")
    created = ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    again = ok(upsert(server, keys.writer, {"jobId": job_id, "status": PENDING, "agentId": {"uuid": "a"}}))
    assert "x-jobstore-position" not in again.headers
    assert again.body["job"]["status"] == REQUESTED and "agentId" not in again.body["job"]
    assert again.body["job"]["creationTime"] == created.body["job"]["creationTime"]
    empty_mask = ok(upsert(server, keys.writer, {"jobId": job_id, "status": PENDING}, {}))
    assert "x-jobstore-position" not in empty_mask.headers and empty_mask.body["job"]["status"] == REQUESTED


def test_setting_the_status_a_job_already_has_changes_nothing(server: Server, keys: Keys) -> None:
    job_id = unique("same")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    same = ok(upsert(server, keys.writer, {"jobId": job_id, "status": PENDING}, {"status": True}))
    assert same.body["job"]["status"] == PENDING
    assert "x-jobstore-position" not in same.headers


def test_each_accepted_write_gets_a_later_position_in_the_global_log(server: Server, keys: Keys) -> None:
    job_id = unique("position")
    positions = [int(ok(upsert(server, keys.writer, stress_job(job_id, "p"))).headers["x-jobstore-position"])]
    for status in (PENDING, RUNNING):
        reply = ok(upsert(server, keys.writer, {"jobId": job_id, "status": status}, {"status": True}))
        positions.append(int(reply.headers["x-jobstore-position"]))
    assert positions == sorted(positions) and len(set(positions)) == 3


def test_output_only_fields_sent_in_an_upsert_are_ignored(server: Server, keys: Keys) -> None:
    job_id = unique("output-only")
    output_only = {"creationTime": "2001-01-01T00:00:00Z", "startTime": "2001-01-01T00:00:00Z",
                   "completionTime": "2001-01-02T00:00:00Z", "runningTimeSecs": 86400,
                   "jobProgressStr": "7 / 7 tests completed", "cancellationRequested": True, "errorMsg": "injected"}
    created = ok(upsert(server, keys.writer, stress_job(job_id, "p", **output_only))).body["job"]
    assert created["creationTime"] != output_only["creationTime"]
    assert parse(created["creationTime"]).year >= 2024
    assert created["cancellationRequested"] is False and created["runningTimeSecs"] == 0
    for field in ("startTime", "completionTime", "jobProgressStr", "errorMsg"):
        assert field not in created, f"output-only {field} was taken from the request"

    updated = ok(upsert(server, keys.writer, {"jobId": job_id, "status": PENDING, **output_only},
                        {"status": True})).body["job"]
    assert updated["status"] == PENDING and updated["creationTime"] == created["creationTime"]
    assert updated["cancellationRequested"] is False
    for field in ("startTime", "completionTime", "errorMsg"):
        assert field not in updated

    shown = read(server, keys.reader, job_id, lambda j: j["status"] == PENDING, view="JOB_VIEW_FULL")
    assert shown["creationTime"] == created["creationTime"] and shown["cancellationRequested"] is False
    assert "jobProgressStr" not in shown and "errorMsg" not in shown and "startTime" not in shown


def test_a_request_field_sent_as_null_is_never_echoed_as_null(server: Server, keys: Keys) -> None:
    job_id = unique("nulls")
    reply = upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE, "agentId": None,
                                         "terminationReason": None, "archivedJobLogs": None})
    assert reply.status in (200, 400), reply.body
    if reply.status == 200:
        well_formed(reply.body["job"])
        assert "agentId" not in reply.body["job"]
        well_formed(read(server, keys.reader, job_id, lambda j: True))


def test_entering_running_sets_start_time_only_the_first_time(server: Server, keys: Keys) -> None:
    job_id = unique("start")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    first = move(server, keys.writer, job_id, RUNNING).body["job"]
    assert RFC3339_UTC.match(first["startTime"])
    assert "completionTime" not in first
    time.sleep(0.01)
    again = move(server, keys.writer, job_id, RECONCILING, RUNNING).body["job"]
    assert again["startTime"] == first["startTime"]
    shown = read(server, keys.reader, job_id, lambda j: j["status"] == RUNNING)
    assert shown["startTime"] == first["startTime"]


def test_running_time_is_zero_before_start_grows_while_running_and_is_fixed_once_terminal(
        server: Server, keys: Keys) -> None:
    job_id = unique("clock")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    assert read(server, keys.reader, job_id, lambda j: True)["runningTimeSecs"] == 0
    move(server, keys.writer, job_id, RUNNING)
    first = read(server, keys.reader, job_id, lambda j: j["status"] == RUNNING)["runningTimeSecs"]
    time.sleep(0.3)
    later = read(server, keys.reader, job_id, lambda j: True)["runningTimeSecs"]
    assert later >= first + 0.25, (first, later)

    done = move(server, keys.writer, job_id, SUCCEEDED).body["job"]
    assert RFC3339_UTC.match(done["completionTime"])
    shown = read(server, keys.reader, job_id, lambda j: j["status"] == SUCCEEDED)
    expected = (parse(shown["completionTime"]) - parse(shown["startTime"])).total_seconds()
    assert shown["runningTimeSecs"] == pytest.approx(expected, abs=1e-3)
    time.sleep(0.2)
    assert read(server, keys.reader, job_id, lambda j: True)["runningTimeSecs"] == pytest.approx(expected, abs=1e-3)


def test_a_write_response_is_the_job_as_the_basic_view_shows_it(server: Server, keys: Keys) -> None:
    job_id = unique("basic-response")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    progress = {"testRun": {"testRunId": "r", "status": "TEST_TASK_STATUS_RUNNING",
                            "testBatches": [{"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"}]}}
    reply = ok(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
                      {"jobData": {"stress": {"progress": True}}}))
    job = well_formed(reply.body["job"])
    assert "progress" not in job["jobData"]["stress"] and FULL_ONLY not in job
    full = read(server, keys.reader, job_id, lambda j: FULL_ONLY in j, view="JOB_VIEW_FULL")
    assert full["jobData"]["stress"]["progress"] == progress
    basic = read(server, keys.reader, job_id, lambda j: True, view="JOB_VIEW_BASIC")
    assert basic == job


def test_a_terminal_job_still_accepts_archived_job_logs_with_times_returned_in_utc(
        server: Server, keys: Keys) -> None:
    job_id = unique("archive")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    move(server, keys.writer, job_id, RUNNING, SUCCEEDED)
    logs = {"url": {"url": "https://logs.example/archive.tgz"}, "expirationTime": "2030-06-01T12:00:00+02:00"}
    reply = ok(upsert(server, keys.writer, {"jobId": job_id, "archivedJobLogs": logs}, {"archivedJobLogs": True}))
    assert "x-jobstore-position" in reply.headers
    stored = reply.body["job"]["archivedJobLogs"]
    assert stored["url"] == logs["url"]
    assert RFC3339_UTC.match(stored["expirationTime"]) and stored["expirationTime"].startswith("2030-06-01T10:00:00")
    shown = read(server, keys.reader, job_id, lambda j: "archivedJobLogs" in j)
    assert shown["archivedJobLogs"] == stored and shown["status"] == SUCCEEDED


def test_the_term_reason_mask_bit_writes_the_termination_reason(server: Server, keys: Keys) -> None:
    job_id = unique("termreason")
    ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    job = ok(upsert(server, keys.writer, {"jobId": job_id, "terminationReason": "TERMINATION_REASON_OOMKILLED"},
                    {"termReason": True})).body["job"]
    assert job["terminationReason"] == "TERMINATION_REASON_OOMKILLED" and job["status"] == REQUESTED


def test_file_scan_data_is_written_through_its_extension_mask_bits(server: Server, keys: Keys) -> None:
    job_id, project = unique("filescan"), unique("project")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": FILE_SCAN}))
    job = ok(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"fileScan": {
        "projectId": {"uuid": project}, "fileScanId": "scan-1"}}},
        {"jobData": {"fileScan": {"projectId": True, "fileScanId": True}}})).body["job"]
    assert job["jobData"] == {"fileScan": {"projectId": {"uuid": project}, "fileScanId": "scan-1"}}
    got = server.eventually(f"/v1/jobs/{job_id}/project-id", keys.reader, lambda r: r.status == 200)
    assert got.body == {"projectId": {"uuid": project}}


# --- FailJob, CancelJob, FinalizeCancellation


def test_fail_sets_failed_with_reason_message_and_completion_time(server: Server, keys: Keys) -> None:
    job_id = unique("fail")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    move(server, keys.writer, job_id, RUNNING)
    reply = ok(server.call("POST", f"/v1/jobs/{job_id}:fail", {
        "terminationReason": "TERMINATION_REASON_OOMKILLED", "errorMsg": "the worker ran out of memory"},
        key=keys.writer))
    job = well_formed(reply.body["job"])
    assert set(reply.body) == {"job"} and "x-jobstore-position" in reply.headers
    assert job["status"] == FAILED and job["terminationReason"] == "TERMINATION_REASON_OOMKILLED"
    assert job["errorMsg"] == "the worker ran out of memory" and RFC3339_UTC.match(job["completionTime"])
    shown = read(server, keys.reader, job_id, lambda j: j["status"] == FAILED)
    assert shown["errorMsg"] == job["errorMsg"] and shown["completionTime"] == job["completionTime"]


def test_fail_without_an_error_message_omits_it(server: Server, keys: Keys) -> None:
    job_id = unique("fail-bare")
    ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    job = ok(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_INTERNAL_ERROR"},
                         key=keys.writer)).body["job"]
    assert job["status"] == FAILED and "errorMsg" not in job


def test_failing_a_failed_job_again_with_the_same_reason_and_message_changes_nothing(
        server: Server, keys: Keys) -> None:
    job_id = unique("fail-twice")
    ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    body = {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR", "errorMsg": "boom"}
    first = ok(server.call("POST", f"/v1/jobs/{job_id}:fail", body, key=keys.writer))
    second = ok(server.call("POST", f"/v1/jobs/{job_id}:fail", body, key=keys.writer))
    assert "x-jobstore-position" not in second.headers
    assert second.body["job"]["completionTime"] == first.body["job"]["completionTime"]


def test_cancel_returns_an_empty_object_and_marks_the_job_while_it_keeps_its_status(
        server: Server, keys: Keys) -> None:
    job_id = unique("cancel")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    move(server, keys.writer, job_id, RUNNING)
    reply = server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer)
    assert reply.status == 200 and reply.body == {}
    assert "x-jobstore-position" in reply.headers
    shown = read(server, keys.reader, job_id, lambda j: j["cancellationRequested"] is True)
    assert shown["status"] == RUNNING and "completionTime" not in shown
    again = server.call("POST", f"/v1/jobs/cancel/{job_id}", raw=b"{}", key=keys.writer)
    assert again.status == 200 and again.body == {} and "x-jobstore-position" not in again.headers


def test_finalize_cancellation_moves_a_job_to_cancelled_and_a_second_finalize_changes_nothing(
        server: Server, keys: Keys) -> None:
    job_id = unique("finalize")
    ok(upsert(server, keys.writer, stress_job(job_id, "p", status=PENDING)))
    move(server, keys.writer, job_id, RUNNING)
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))
    reply = ok(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer))
    job = well_formed(reply.body["job"])
    assert set(reply.body) == {"job"} and "x-jobstore-position" in reply.headers
    assert job["status"] == CANCELLED and job["cancellationRequested"] is True
    assert RFC3339_UTC.match(job["completionTime"])
    again = ok(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", raw=b"{}", key=keys.writer))
    assert "x-jobstore-position" not in again.headers
    assert again.body["job"]["completionTime"] == job["completionTime"]
    shown = read(server, keys.reader, job_id, lambda j: j["status"] == CANCELLED)
    assert shown["completionTime"] == job["completionTime"]


def test_a_requested_job_can_be_cancelled_before_it_ever_runs(server: Server, keys: Keys) -> None:
    job_id = unique("cancel-early")
    ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))
    job = ok(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer)).body["job"]
    assert job["status"] == CANCELLED and job["runningTimeSecs"] == 0 and "startTime" not in job


# --- GetJob views


@pytest.fixture(scope="module")
def progressed(server: Server, keys: Keys) -> dict[str, Any]:
    """A running stress test with progress and a continuous test with progress, both visible in FULL."""
    stress_id, continuous_id, project = unique("progress-stress"), unique("progress-ct"), unique("project")
    stress_progress = {"testRun": {"testRunId": "r1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
        {"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"},
        {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"},
        {"type": "abuse", "status": "TEST_TASK_STATUS_COMPLETED"}]}}
    ok(upsert(server, keys.writer, stress_job(stress_id, project, status=PENDING)))
    ok(upsert(server, keys.writer, {"jobId": stress_id, "jobData": {"stress": {"progress": stress_progress}}},
              {"jobData": {"stress": {"progress": True}}}))
    ct_progress = {"testRuns": [
        {"testRun": {"testRunId": "ct-1", "status": "TEST_TASK_STATUS_COMPLETED", "testBatches": []},
         "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-01T01:00:00+01:00"},
        {"testRun": {"testRunId": "ct-2", "status": "TEST_TASK_STATUS_RUNNING"},
         "binStartTime": "2026-01-01T01:00:00Z", "binEndTime": "2026-01-01T02:00:00Z"}]}
    ok(upsert(server, keys.writer, {"jobId": continuous_id, "jobType": CONTINUOUS, "jobData": {"continuousInc": {
        "firewallId": "fw", "ctTestRunIds": ["ct-1", "ct-2", "ct-3", "ct-4"]}}}))
    ok(upsert(server, keys.writer, {"jobId": continuous_id, "jobData": {"continuousInc": {"progress": ct_progress}}},
              {"jobData": {"continuousInc": {"progress": True}}}))
    read(server, keys.reader, stress_id, lambda j: FULL_ONLY in j, view="JOB_VIEW_FULL")
    read(server, keys.reader, continuous_id, lambda j: FULL_ONLY in j, view="JOB_VIEW_FULL")
    return {"stress": stress_id, "continuous": continuous_id, "stress_progress": stress_progress, "project": project}


def test_get_job_full_shows_progress_and_a_tests_completed_string(
        server: Server, keys: Keys, progressed: dict[str, Any]) -> None:
    job = read(server, keys.reader, progressed["stress"], lambda j: True, view="JOB_VIEW_FULL")
    assert job["jobProgressStr"] == "2 / 3 tests completed"
    assert job["jobData"]["stress"]["progress"] == progressed["stress_progress"]
    assert job["jobData"]["stress"]["testRunId"] == f"run-of-{progressed['stress']}"


def test_get_job_full_shows_time_bins_completed_for_a_continuous_test_with_times_in_utc(
        server: Server, keys: Keys, progressed: dict[str, Any]) -> None:
    job = read(server, keys.reader, progressed["continuous"], lambda j: True, view="JOB_VIEW_FULL")
    assert job["jobProgressStr"] == "1 / 4 time bins completed"
    runs = job["jobData"]["continuousInc"]["progress"]["testRuns"]
    assert [r["testRun"]["testRunId"] for r in runs] == ["ct-1", "ct-2"]
    for run in runs:
        assert RFC3339_UTC.match(run["binStartTime"]) and RFC3339_UTC.match(run["binEndTime"])
    assert runs[0]["binEndTime"].startswith("2026-01-01T00:00:00")


@pytest.mark.parametrize("view", ["JOB_VIEW_BASIC", "JOB_VIEW_UNSPECIFIED", None, ""])
def test_get_job_basic_unspecified_and_default_omit_progress_and_the_progress_string(
        server: Server, keys: Keys, progressed: dict[str, Any], view: str | None) -> None:
    for job_id, kind in ((progressed["stress"], "stress"), (progressed["continuous"], "continuousInc")):
        job = read(server, keys.reader, job_id, lambda j: True, view=view)
        assert FULL_ONLY not in job
        assert "progress" not in job["jobData"][kind]
        assert job["jobData"][kind], "BASIC keeps the rest of jobData"


def test_get_job_full_omits_the_progress_string_where_there_is_no_progress(server: Server, keys: Keys) -> None:
    job_id = unique("no-progress")
    ok(upsert(server, keys.writer, stress_job(job_id, "p")))
    job = read(server, keys.reader, job_id, lambda j: True, view="JOB_VIEW_FULL")
    assert FULL_ONLY not in job and "progress" not in job["jobData"]["stress"]


def test_a_job_id_with_characters_that_need_percent_encoding_is_found(server: Server, keys: Keys) -> None:
    job_id = unique("odd:id+ü@%x")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE}))
    assert read(server, keys.reader, job_id, lambda j: True)["jobId"] == job_id
    reply = server.call("POST", f"/v1/jobs/cancel/{quote(job_id, safe='')}", key=keys.writer)
    assert reply.status == 200, reply.body
    failed = server.call("POST", f"/v1/jobs/{quote(job_id, safe='')}:fail",
                         {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR"}, key=keys.writer)
    assert failed.status == 200 and failed.body["job"]["jobId"] == job_id


# --- ListJobsForProject and ListJobs: filters


@dataclass
class Population:
    project: str
    agent: str
    jobs: dict[str, str]  # name -> job id


@pytest.fixture(scope="module")
def population(server: Server, keys: Keys) -> Population:
    """One project's jobs in several statuses and types, and two jobs of the same agent that have no project."""
    project, agent = unique("project"), unique("agent")
    jobs = {name: unique(name) for name in ("s_req", "s_pend", "s_run", "s_done", "f_pend", "f_run", "ct", "img",
                                             "s_noproj")}

    def create(name: str, body: dict[str, Any], *statuses: str) -> None:
        ok(upsert(server, keys.writer, {**body, "agentId": {"uuid": agent}}))
        if statuses:
            move(server, keys.writer, jobs[name], *statuses)

    create("s_req", stress_job(jobs["s_req"], project))
    create("s_pend", stress_job(jobs["s_pend"], project, status=PENDING))
    create("s_run", stress_job(jobs["s_run"], project, status=PENDING), RUNNING)
    create("s_done", stress_job(jobs["s_done"], project, status=PENDING), RUNNING, SUCCEEDED)
    create("f_pend", {"jobId": jobs["f_pend"], "jobType": FILE_SCAN, "status": PENDING,
                      "jobData": {"fileScan": {"projectId": {"uuid": project}, "fileScanId": "fs"}}})
    create("f_run", {"jobId": jobs["f_run"], "jobType": FILE_SCAN, "status": PENDING,
                     "jobData": {"fileScan": {"projectId": {"uuid": project}}}}, RUNNING)
    create("ct", {"jobId": jobs["ct"], "jobType": CONTINUOUS, "status": PENDING,
                  "jobData": {"continuousInc": {"firewallId": project, "ctTestRunIds": [project]}}}, RUNNING)
    create("img", {"jobId": jobs["img"], "jobType": IMAGE, "status": PENDING}, RUNNING)
    create("s_noproj", {"jobId": jobs["s_noproj"], "jobType": STRESS, "status": PENDING}, RUNNING)
    final = {jobs["s_req"]: REQUESTED, jobs["s_pend"]: PENDING, jobs["s_run"]: RUNNING, jobs["s_done"]: SUCCEEDED,
             jobs["f_pend"]: PENDING, jobs["f_run"]: RUNNING, jobs["ct"]: RUNNING, jobs["img"]: RUNNING,
             jobs["s_noproj"]: RUNNING}
    reply = server.eventually(query("/v1/jobs", ("agentId.uuid", agent), ("pageSize", 100)), keys.reader,
                              lambda r: r.status == 200 and {j["jobId"]: j["status"] for j in r.body["jobs"]} == final)
    assert {j["jobId"]: j["status"] for j in reply.body["jobs"]} == final
    return Population(project, agent, jobs)


def names(population: Population, listed: list[str]) -> set[str]:
    by_id = {v: k for k, v in population.jobs.items()}
    assert len(listed) == len(set(listed)), f"a job is listed twice: {listed}"
    return {by_id.get(job_id, job_id) for job_id in listed}


@pytest.mark.parametrize(("filters", "expected"), [
    ([], {"s_req", "s_pend", "s_run", "s_done", "f_pend", "f_run"}),
    (statuses_filter(PENDING, RUNNING), {"s_pend", "s_run", "f_pend", "f_run"}),
    (statuses_filter(SUCCEEDED), {"s_done"}),
    (types_filter(FILE_SCAN), {"f_pend", "f_run"}),
    (types_filter(STRESS, FILE_SCAN), {"s_req", "s_pend", "s_run", "s_done", "f_pend", "f_run"}),
    (statuses_filter(RUNNING) + types_filter(STRESS), {"s_run"}),
    (statuses_filter(FAILED), set()),
    (types_filter(CONTINUOUS, IMAGE), set()),
], ids=["all", "pending-or-running", "succeeded", "file-scans", "two-types", "running-stress", "none-failed",
        "no-project-types"])
def test_list_jobs_for_project_applies_repeated_status_and_type_filters(
        server: Server, keys: Keys, population: Population, filters: list[tuple[str, str]],
        expected: set[str]) -> None:
    reply = server.call("GET", query(f"/v1/jobs/project/{population.project}", *filters), key=keys.reader)
    assert names(population, ids(reply)) == expected
    assert reply.body["hasMore"] is False
    assert reply.body.get("nextPageToken", "") == "", "a last page has no next page token"
    for job in reply.body["jobs"]:
        well_formed(job)


def test_jobs_with_no_project_never_appear_in_a_project_list(
        server: Server, keys: Keys, population: Population) -> None:
    no_project = {population.jobs[n] for n in ("ct", "img", "s_noproj")}
    for project in (population.project, "None", "null", "0", population.agent, "fw"):
        listed = server.call("GET", query(f"/v1/jobs/project/{project}", ("pageSize", 500)), key=keys.reader)
        assert not no_project & set(ids(listed)), project
    missing = server.call("GET", f"/v1/jobs/project/{unique('nobody')}", key=keys.reader)
    assert missing.status == 200 and missing.body["jobs"] == [] and missing.body["hasMore"] is False


@pytest.mark.parametrize(("filters", "expected"), [
    ([], {"s_req", "s_pend", "s_run", "s_done", "f_pend", "f_run", "ct", "img", "s_noproj"}),
    (types_filter(IMAGE), {"img"}),
    (types_filter(CONTINUOUS, IMAGE), {"ct", "img"}),
    (statuses_filter(RUNNING), {"s_run", "f_run", "ct", "img", "s_noproj"}),
    (statuses_filter(REQUESTED, SUCCEEDED) + types_filter(STRESS), {"s_req", "s_done"}),
], ids=["agent-only", "image", "two-types", "running", "statuses-and-type"])
def test_list_jobs_filters_by_agent_status_and_type(
        server: Server, keys: Keys, population: Population, filters: list[tuple[str, str]],
        expected: set[str]) -> None:
    reply = server.call("GET", query("/v1/jobs", ("agentId.uuid", population.agent), *filters), key=keys.reader)
    assert names(population, ids(reply)) == expected


def test_list_jobs_without_an_agent_includes_jobs_of_every_kind_and_project(
        server: Server, keys: Keys, population: Population) -> None:
    reply = server.call("GET", query("/v1/jobs", *types_filter(CONTINUOUS, IMAGE), ("pageSize", 500)),
                        key=keys.reader)
    assert {population.jobs["ct"], population.jobs["img"]} <= set(ids(reply))
    assert {j["jobType"] for j in reply.body["jobs"]} <= {CONTINUOUS, IMAGE}
    other_agent = server.call("GET", query("/v1/jobs", ("agentId.uuid", unique("agent"))), key=keys.reader)
    assert ids(other_agent) == []


def test_lists_show_basic_by_default_and_full_when_asked(
        server: Server, keys: Keys, progressed: dict[str, Any]) -> None:
    path = f"/v1/jobs/project/{progressed['project']}"
    basic = server.call("GET", path, key=keys.reader)
    job = next(j for j in basic.body["jobs"] if j["jobId"] == progressed["stress"])
    assert FULL_ONLY not in job and "progress" not in job["jobData"]["stress"]
    full = server.call("GET", query(path, ("view", "JOB_VIEW_FULL")), key=keys.reader)
    job = next(j for j in full.body["jobs"] if j["jobId"] == progressed["stress"])
    assert job[FULL_ONLY] == "2 / 3 tests completed" and "progress" in job["jobData"]["stress"]
    listed = server.call("GET", query("/v1/jobs", ("view", "JOB_VIEW_FULL"), *types_filter(CONTINUOUS),
                                      ("pageSize", 500)), key=keys.reader)
    job = next(j for j in listed.body["jobs"] if j["jobId"] == progressed["continuous"])
    assert job[FULL_ONLY] == "1 / 4 time bins completed"


def test_a_job_whose_project_is_rewritten_moves_to_the_other_project_list(server: Server, keys: Keys) -> None:
    job_id, first, second = unique("mover"), unique("project"), unique("project")
    ok(upsert(server, keys.writer, stress_job(job_id, first)))
    server.eventually(f"/v1/jobs/project/{first}", keys.reader, lambda r: ids(r) == [job_id])
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"stress": {"projectId": {"uuid": second}}}},
              {"jobData": {"stress": {"projectId": True}}}))
    moved = server.eventually(f"/v1/jobs/project/{second}", keys.reader, lambda r: ids(r) == [job_id])
    assert ids(moved) == [job_id]
    assert ids(server.call("GET", f"/v1/jobs/project/{first}", key=keys.reader)) == []


def test_a_job_that_gets_a_project_later_appears_in_that_project_list(server: Server, keys: Keys) -> None:
    job_id, project = unique("late-project"), unique("project")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS}))
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"stress": {"projectId": {"uuid": project}}}},
              {"jobData": {"stress": {"projectId": True}}}))
    listed = server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: ids(r) == [job_id])
    assert ids(listed) == [job_id]


# --- paging


@dataclass
class BigProject:
    project: str
    created: list[dict[str, Any]]  # the create responses' jobs

    @property
    def newest_first(self) -> list[str]:
        return newest_first(self.created)


@pytest.fixture(scope="module")
def big_project(server: Server, keys: Keys) -> BigProject:
    """501 stress jobs in one project (more than the largest page), created concurrently."""
    project = unique("big")
    job_ids = [unique(f"b{i:03d}") for i in range(501)]

    def create(job_id: str) -> dict[str, Any]:
        return ok(upsert(server, keys.writer, stress_job(job_id, project))).body["job"]

    with ThreadPoolExecutor(6) as pool:
        created = list(pool.map(create, job_ids))
    server.eventually(query(f"/v1/jobs/project/{project}", ("pageSize", 500)), keys.reader,
                      lambda r: r.status == 200 and r.body["hasMore"] is True, timeout=30)
    return BigProject(project, created)


def walk(server: Server, key: str, first_page: str, page_size: int | None) -> tuple[list[str], list[Reply]]:
    """Every page of a list: the first with `first_page`, later ones with only pageToken (and pageSize)."""
    replies = [server.call("GET", first_page, key=key)]
    base = first_page.split("?")[0]
    while replies[-1].status == 200 and replies[-1].body["hasMore"]:
        token = replies[-1].body["nextPageToken"]
        assert isinstance(token, str) and token
        extra = [("pageSize", page_size)] if page_size is not None else []
        replies.append(server.call("GET", query(base, ("pageToken", token), *extra), key=key))
        assert len(replies) < 1000
    collected: list[str] = []
    for reply in replies:
        collected += ids(reply)
    return collected, replies


def test_list_pages_default_to_twenty_jobs(server: Server, keys: Keys, big_project: BigProject) -> None:
    for path in (f"/v1/jobs/project/{big_project.project}",
                 query(f"/v1/jobs/project/{big_project.project}", ("pageSize", 0))):
        reply = server.call("GET", path, key=keys.reader)
        assert ids(reply) == big_project.newest_first[:20], path
        assert reply.body["hasMore"] is True and reply.body["nextPageToken"]


def test_a_page_size_above_500_is_clamped_to_500(server: Server, keys: Keys, big_project: BigProject) -> None:
    for size in (501, 100000):
        reply = server.call("GET", query(f"/v1/jobs/project/{big_project.project}", ("pageSize", size)),
                            key=keys.reader)
        assert len(ids(reply)) == 500, size
        assert reply.body["hasMore"] is True
    rest = server.call("GET", query(f"/v1/jobs/project/{big_project.project}",
                                    ("pageToken", reply.body["nextPageToken"]), ("pageSize", 100000)),
                       key=keys.reader)
    assert ids(rest) == big_project.newest_first[500:] and rest.body["hasMore"] is False


def test_keyset_pages_of_a_given_size_list_every_job_once_newest_first(
        server: Server, keys: Keys, big_project: BigProject) -> None:
    collected, replies = walk(server, keys.reader,
                              query(f"/v1/jobs/project/{big_project.project}", ("pageSize", 37)), 37)
    assert collected == big_project.newest_first
    assert [len(ids(r)) for r in replies] == [37] * 13 + [501 - 37 * 13]
    assert all(r.body["hasMore"] for r in replies[:-1]) and replies[-1].body["hasMore"] is False
    assert "nextPageToken" not in replies[-1].body or replies[-1].body["nextPageToken"] == ""


def test_later_pages_without_a_page_size_use_the_default(server: Server, keys: Keys, big_project: BigProject) -> None:
    first = server.call("GET", query(f"/v1/jobs/project/{big_project.project}", ("pageSize", 5)), key=keys.reader)
    second = server.call("GET", query(f"/v1/jobs/project/{big_project.project}",
                                      ("pageToken", first.body["nextPageToken"])), key=keys.reader)
    assert ids(second) == big_project.newest_first[5:25]


def test_list_order_is_newest_first_by_creation_time_then_job_id(
        server: Server, keys: Keys, big_project: BigProject) -> None:
    reply = server.call("GET", query(f"/v1/jobs/project/{big_project.project}", ("pageSize", 500)), key=keys.reader)
    jobs = reply.body["jobs"]
    keys_in_order = [(parse(j["creationTime"]), j["jobId"]) for j in jobs]
    assert keys_in_order == sorted(keys_in_order, reverse=True)


def test_later_pages_keep_the_first_page_filters_from_the_token_alone(server: Server, keys: Keys) -> None:
    project = unique("filtered-pages")
    wanted: list[dict[str, Any]] = []
    for i in range(12):
        job_id = unique(f"fp{i}")
        if i % 3 == 0:
            ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": FILE_SCAN, "status": PENDING,
                                            "jobData": {"fileScan": {"projectId": {"uuid": project}}}}))
        elif i % 3 == 1:
            ok(upsert(server, keys.writer, stress_job(job_id, project)))
        else:
            wanted.append(ok(upsert(server, keys.writer, stress_job(job_id, project, status=PENDING))).body["job"])
    server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: len(ids(r)) == 12)
    first = query(f"/v1/jobs/project/{project}", *statuses_filter(PENDING), *types_filter(STRESS),
                  ("pageSize", 1))
    collected, replies = walk(server, keys.reader, first, 1)
    assert collected == newest_first(wanted)
    assert len(replies) == 4


def test_a_later_page_may_repeat_the_first_page_filters(server: Server, keys: Keys, population: Population) -> None:
    filters = statuses_filter(PENDING, RUNNING)
    first = server.call("GET", query(f"/v1/jobs/project/{population.project}", *filters, ("pageSize", 2)),
                        key=keys.reader)
    assert first.body["hasMore"] is True
    second = server.call("GET", query(f"/v1/jobs/project/{population.project}", *filters,
                                      ("pageToken", first.body["nextPageToken"]), ("pageSize", 2)), key=keys.reader)
    assert names(population, ids(first) + ids(second)) == {"s_pend", "s_run", "f_pend", "f_run"}
    assert second.body["hasMore"] is False


def test_later_list_jobs_pages_sending_only_the_token_keep_the_agent_filter(
        server: Server, keys: Keys, population: Population) -> None:
    collected, replies = walk(server, keys.reader, query("/v1/jobs", ("agentId.uuid", population.agent),
                                                         ("pageSize", 2)), 2)
    assert sorted(collected) == sorted(population.jobs.values())
    assert len(replies) == 5


def test_later_list_jobs_pages_may_repeat_the_agent_filter(
        server: Server, keys: Keys, population: Population) -> None:
    replies = [server.call("GET", query("/v1/jobs", ("agentId.uuid", population.agent), ("pageSize", 4)),
                           key=keys.reader)]
    while replies[-1].body.get("hasMore"):
        replies.append(server.call("GET", query("/v1/jobs", ("agentId.uuid", population.agent), ("pageSize", 4),
                                                ("pageToken", replies[-1].body["nextPageToken"])), key=keys.reader))
    collected = [job_id for reply in replies for job_id in ids(reply)]
    assert sorted(collected) == sorted(population.jobs.values()) and len(replies) == 3


def test_paging_is_by_keyset_so_jobs_created_meanwhile_neither_repeat_nor_skip_a_job(
        server: Server, keys: Keys) -> None:
    project = unique("keyset")
    original = [ok(upsert(server, keys.writer, stress_job(unique("k"), project))).body["job"] for _ in range(6)]
    server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: len(ids(r)) == 6)
    first = server.call("GET", query(f"/v1/jobs/project/{project}", ("pageSize", 2)), key=keys.reader)
    newer = [ok(upsert(server, keys.writer, stress_job(unique("k-new"), project))).body["job"] for _ in range(3)]
    server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: len(ids(r)) == 9)
    collected = ids(first)
    token = first.body["nextPageToken"]
    while token:
        page = server.call("GET", query(f"/v1/jobs/project/{project}", ("pageToken", token), ("pageSize", 2)),
                           key=keys.reader)
        collected += ids(page)
        token = page.body.get("nextPageToken") if page.body["hasMore"] else None
    assert collected == newest_first(original)
    assert not {j["jobId"] for j in newer} & set(collected)


# --- GetProjectID and GetTestRunID


def test_get_project_id_returns_the_project_of_a_stress_test_and_of_a_file_scan(
        server: Server, keys: Keys, population: Population) -> None:
    for name in ("s_run", "f_pend"):
        reply = server.call("GET", f"/v1/jobs/{population.jobs[name]}/project-id", key=keys.reader)
        assert reply.status == 200 and reply.body == {"projectId": {"uuid": population.project}}


def test_get_project_id_of_a_job_without_a_project_is_an_error_not_a_null(
        server: Server, keys: Keys, population: Population) -> None:
    for name in ("ct", "img", "s_noproj"):
        reply = server.call("GET", f"/v1/jobs/{population.jobs[name]}/project-id", key=keys.reader)
        assert 400 <= reply.status < 500, (name, reply.status, reply.body)
        assert set(reply.body) == {"code", "message", "details"}


def test_get_test_run_id_returns_the_test_run_of_a_succeeded_stress_test(
        server: Server, keys: Keys, population: Population) -> None:
    job_id = population.jobs["s_done"]
    reply = server.call("GET", f"/v1/jobs/{job_id}/test-run-id", key=keys.reader)
    assert reply.status == 200 and reply.body == {"testRunId": f"run-of-{job_id}"}


def test_get_test_run_id_is_failed_precondition_for_any_job_that_is_not_a_succeeded_stress_test(
        server: Server, keys: Keys, population: Population) -> None:
    failed, cancelled, scan, image = unique("trid-f"), unique("trid-c"), unique("trid-s"), unique("trid-i")
    ok(upsert(server, keys.writer, stress_job(failed, "p")))
    ok(server.call("POST", f"/v1/jobs/{failed}:fail", {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR"},
                   key=keys.writer))
    ok(upsert(server, keys.writer, stress_job(cancelled, "p")))
    ok(server.call("POST", f"/v1/jobs/cancel/{cancelled}", key=keys.writer))
    ok(server.call("POST", f"/v1/jobs/{cancelled}:finalizeCancellation", key=keys.writer))
    for job_id, body in ((scan, {"jobId": scan, "jobType": FILE_SCAN, "status": PENDING,
                                 "jobData": {"fileScan": {"projectId": {"uuid": "p"}}}}),
                         (image, {"jobId": image, "jobType": IMAGE, "status": PENDING})):
        ok(upsert(server, keys.writer, body))
        move(server, keys.writer, job_id, RUNNING, SUCCEEDED)
    for job_id, status in ((population.jobs["s_req"], REQUESTED), (population.jobs["s_pend"], PENDING),
                           (population.jobs["s_run"], RUNNING), (failed, FAILED), (cancelled, CANCELLED),
                           (scan, SUCCEEDED), (image, SUCCEEDED)):
        read(server, keys.reader, job_id, lambda j, s=status: j["status"] == s)  # type: ignore[misc]
        reply = server.call("GET", f"/v1/jobs/{job_id}/test-run-id", key=keys.reader)
        assert reply.status == 400 and reply.body.get("code") == 9, (status, reply.status, reply.body)
        assert reply.body["details"] == [] and reply.body["message"]


@pytest.mark.parametrize("project", ["events", "project-id", "test-run-id"])
def test_a_project_named_like_a_job_route_is_listed_for_readers_and_auditors(
        server: Server, keys: Keys, project: str) -> None:
    job_id = unique(f"named-{project}")
    ok(upsert(server, keys.writer, stress_job(job_id, project)))
    for key in (keys.reader, keys.auditor):
        reply = server.eventually(f"/v1/jobs/project/{project}", key,
                                  lambda r: r.status == 200 and job_id in [j["jobId"] for j in r.body["jobs"]])
        assert reply.status == 200 and job_id in [j["jobId"] for j in reply.body["jobs"]], reply.body
    events = server.call("GET", f"/v1/jobs/{job_id}/events", key=keys.auditor)
    assert events.status == 200 and [e["version"] for e in events.body["events"]] == [1]
    project_id = server.eventually(f"/v1/jobs/{job_id}/project-id", keys.reader, lambda r: r.status == 200)
    assert project_id.body == {"projectId": {"uuid": project}}


def test_the_job_id_project_is_reserved_since_its_routes_would_list_a_project(server: Server, keys: Keys) -> None:
    reply = upsert(server, keys.writer, stress_job("project", "p"))
    assert reply.status == 400 and reply.body["code"] == 3, reply.body
    assert "job.jobId" in reply.body["message"] and "reserved" in reply.body["message"]
    assert server.call("GET", "/v1/jobs/project", key=keys.reader).status == 404


def test_a_page_of_large_jobs_is_cut_at_4_mib_and_the_next_pages_bring_the_rest(server: Server, keys: Keys) -> None:
    agent, job_ids = unique("big-agent"), []
    for n in range(6):  # about 0.9 MB each: 5.3 MB in all
        job_id = unique(f"big-{n}")
        ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": CONTINUOUS, "agentId": {"uuid": agent},
                                        "jobData": {"continuousInc": {"firewallId": "fw", "ctTestRunIds": [
                                            f"{job_id}-{i:06d}".ljust(80, "x") for i in range(10_000)]}}}))
        job_ids.append(job_id)
    path = f"/v1/jobs?agentId.uuid={agent}&pageSize=500&view=JOB_VIEW_FULL"
    server.eventually(f"/v1/jobs/{job_ids[-1]}", keys.reader, lambda r: r.status == 200)
    listed, token, pages = [], None, 0
    while True:
        reply = server.call("GET", path + (f"&pageToken={token}" if token else ""), key=keys.reader)
        assert reply.status == 200 and int(reply.headers["content-length"]) <= 4 * 1024 * 1024, reply.headers
        listed += [job["jobId"] for job in reply.body["jobs"]]
        pages += 1
        if not reply.body["hasMore"]:
            break
        token = reply.body["nextPageToken"]
    assert listed == job_ids[::-1] and pages >= 2


# --- operations


def test_openapi_json_describes_every_route_of_the_contract(server: Server) -> None:
    reply = server.call("GET", "/openapi.json")
    assert reply.status == 200
    described = {(method.upper(), re.sub(r"\{[^}]*\}", "{}", path))
                 for path, operations in reply.body["paths"].items() for method in operations}
    for route in (("POST", "/v1/jobs:upsert"), ("POST", "/v1/jobs/{}:fail"), ("POST", "/v1/jobs/cancel/{}"),
                  ("POST", "/v1/jobs/{}:finalizeCancellation"), ("GET", "/v1/jobs/{}"),
                  ("GET", "/v1/jobs/project/{}"), ("GET", "/v1/jobs"), ("GET", "/v1/jobs/{}/project-id"),
                  ("GET", "/v1/jobs/{}/test-run-id"), ("GET", "/healthz")):
        assert route in described, f"{route} is missing from /openapi.json"


def test_healthz_says_the_process_is_alive(server: Server) -> None:
    reply = server.call("GET", "/healthz")
    assert reply.status == 200 and reply.body == {"status": "ok"}


@pytest.fixture(autouse=True)
def _server_is_alive(server: Server) -> Iterator[None]:
    yield
    assert server.process is not None and server.process.poll() is None, "jobstore serve died:\n" + server.log()
