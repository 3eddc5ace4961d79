"""One job's life over HTTP, start to finish: a newcomer can read this test to learn the system."""
from __future__ import annotations

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server


def test_a_stress_test_job_is_created_run_reported_cancelled_and_finalized(server: Server, keys: Keys) -> None:
    job_id, project = unique("story"), {"uuid": unique("project")}

    # An agent requests a stress test job for a project.
    created = server.call("POST", "/v1/jobs:upsert", {"job": {
        "jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
        "jobData": {"stress": {"projectId": project, "testRunId": "run-1"}}}}, key=keys.writer)
    assert created.status == 200, created.body
    assert created.body["job"]["status"] == "JOB_STATUS_REQUESTED"
    assert int(created.headers["x-jobstore-position"]) >= 1

    # It is scheduled, then starts on an agent: startTime is set when it enters RUNNING.
    for status in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"):
        moved = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": status,
                                                                "agentId": {"uuid": "agent-1"}},
                                                        "writeMask": {"status": True, "agentId": True}},
                            key=keys.writer)
        assert moved.status == 200 and moved.body["job"]["status"] == status
    assert "startTime" in moved.body["job"]

    # It reports progress per test batch; FULL shows it, BASIC does not.
    progress = {"testRun": {"testRunId": "run-1", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
        {"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"},
        {"type": "bias", "status": "TEST_TASK_STATUS_RUNNING"}]}}
    reported = server.call("POST", "/v1/jobs:upsert", {
        "job": {"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
        "writeMask": {"jobData": {"stress": {"progress": True}}}}, key=keys.writer)
    assert reported.status == 200
    full = server.eventually(f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL", keys.reader,
                             lambda r: "jobProgressStr" in r.body.get("job", {}))
    assert full.body["job"]["jobProgressStr"] == "1 / 2 tests completed"
    assert full.body["job"]["jobData"]["stress"]["progress"] == progress
    basic = server.call("GET", f"/v1/jobs/{job_id}", key=keys.reader)
    assert "progress" not in basic.body["job"]["jobData"]["stress"] and "jobProgressStr" not in basic.body["job"]

    # A user asks to cancel: the job keeps running until the agent finalizes the cancellation.
    assert server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer).body == {}
    finalized = server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer)
    assert finalized.status == 200
    job = finalized.body["job"]
    assert job["status"] == "JOB_STATUS_CANCELLED" and job["cancellationRequested"] is True
    assert "completionTime" in job and job["runningTimeSecs"] > 0

    # The project's list shows it, and its history is settled: a terminal job never changes status again.
    listed = server.eventually(f"/v1/jobs/project/{project['uuid']}", keys.reader,
                               lambda r: [j["status"] for j in r.body.get("jobs", [])] == ["JOB_STATUS_CANCELLED"])
    assert [j["jobId"] for j in listed.body["jobs"]] == [job_id]
    again = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": "JOB_STATUS_RUNNING"},
                                                    "writeMask": {"status": True}}, key=keys.writer)
    assert again.status == 400 and again.body["code"] == 9
