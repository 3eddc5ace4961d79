"""Every route's 200 answer is what /openapi.json declares, checked on real answers about jobs of every kind of
data: the job document (with its output-only fields), pages, writes, cancellations and the audit routes."""
from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok, upsert


@pytest.fixture(scope="module")
def spec(server: Server) -> dict[str, Any]:
    reply = server.call("GET", "/openapi.json")
    assert reply.status == 200
    assert isinstance(reply.body, dict)
    return reply.body


def conforms(spec: dict[str, Any], method: str, route: str, reply: Reply) -> None:
    assert reply.status == 200, reply.body
    declared = spec["paths"][route][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
    assert declared, f"{method} {route} declares no schema for its 200 body"
    validator = jsonschema_rs.validator_for({**declared, "components": spec["components"]})
    errors = [f"{error.instance_path}: {error.message}" for error in validator.iter_errors(reply.body)]
    assert errors == [], f"{method} {route} answered a body its schema refuses: {errors}"


def test_every_routes_answer_matches_the_schema_it_declares(server: Server, keys: Keys,
                                                           spec: dict[str, Any]) -> None:
    project = unique("project")
    stress = unique("stress")
    batches = [{"type": "b1", "status": "TEST_TASK_STATUS_COMPLETED"},
               {"type": "b2", "status": "TEST_TASK_STATUS_RUNNING"}]
    written = ok(upsert(server, keys.writer, {
        "jobId": stress, "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "agentId": {"uuid": "agent-é"},
        "archivedJobLogs": {"url": {"url": "https://logs.example/1"}, "expirationTime": "2030-01-01T00:00:00Z"},
        "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": "run-1",
                               "progress": {"testRun": {"testRunId": "run-1", "testBatches": batches}}}}}))
    conforms(spec, "POST", "/v1/jobs:upsert", written)
    for status in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_SUCCEEDED"):
        conforms(spec, "POST", "/v1/jobs:upsert",
                 upsert(server, keys.writer, {"jobId": stress, "status": status}, {"status": True}))
    continuous = unique("continuous")
    ok(upsert(server, keys.writer, {"jobId": continuous, "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST", "jobData": {
        "continuousInc": {"firewallId": "fw", "ctTestRunIds": ["a", "b"], "progress": {"testRuns": [
            {"testRun": {"testRunId": "a", "status": "TEST_TASK_STATUS_COMPLETED"},
             "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-02T00:00:00Z"}]}}}}))
    conforms(spec, "POST", "/v1/jobs/{jobId}:fail", server.call(
        "POST", f"/v1/jobs/{continuous}:fail", {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR",
                                                 "errorMsg": "stopped"}, key=keys.writer))
    cancelled = unique("image")
    ok(upsert(server, keys.writer, {"jobId": cancelled, "jobType": "JOB_TYPE_IMAGE_BUILDER"}))
    conforms(spec, "POST", "/v1/jobs/cancel/{jobId}",
             server.call("POST", f"/v1/jobs/cancel/{cancelled}", {}, key=keys.writer))
    final = server.call("POST", f"/v1/jobs/{cancelled}:finalizeCancellation", {}, key=keys.writer)
    conforms(spec, "POST", "/v1/jobs/{jobId}:finalizeCancellation", final)
    after = f"minPosition={final.headers['x-jobstore-position']}"

    for job_id in (stress, continuous, cancelled):
        for view in ("JOB_VIEW_BASIC", "JOB_VIEW_FULL"):
            conforms(spec, "GET", "/v1/jobs/{jobId}",
                     server.call("GET", f"/v1/jobs/{job_id}?view={view}&{after}", key=keys.reader))
    conforms(spec, "GET", "/v1/jobs/{jobId}", server.call("GET", f"/v1/jobs/{stress}?version=2", key=keys.auditor))
    conforms(spec, "GET", "/v1/jobs", server.call("GET", f"/v1/jobs?view=JOB_VIEW_FULL&pageSize=2&{after}",
                                                  key=keys.reader))
    conforms(spec, "GET", "/v1/jobs/project/{projectId}",
             server.call("GET", f"/v1/jobs/project/{project}?{after}", key=keys.reader))
    conforms(spec, "GET", "/v1/jobs/{jobId}/project-id",
             server.call("GET", f"/v1/jobs/{stress}/project-id?{after}", key=keys.reader))
    conforms(spec, "GET", "/v1/jobs/{jobId}/test-run-id",
             server.call("GET", f"/v1/jobs/{stress}/test-run-id?{after}", key=keys.reader))
    conforms(spec, "GET", "/v1/jobs/{jobId}/events", server.call("GET", f"/v1/jobs/{stress}/events",
                                                                 key=keys.auditor))
    conforms(spec, "GET", "/v1/events", server.call("GET", "/v1/events?limit=5", key=keys.auditor))
