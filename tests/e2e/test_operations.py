"""What operators watch: liveness, readiness, Prometheus metrics, one JSON log line per request."""
from __future__ import annotations

import json
import re

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server


def test_health_and_readiness_need_no_key_and_say_ok(server: Server) -> None:
    assert server.call("GET", "/healthz").body == {"status": "ok"}
    ready = server.call("GET", "/readyz")
    assert ready.status == 200 and ready.body == {"status": "ready", "reads": "primary"}


def test_metrics_count_requests_commands_events_and_show_each_views_position(server: Server, keys: Keys) -> None:
    job_id = unique("metered")
    written = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}},
                          key=keys.writer)
    position = int(written.headers["x-jobstore-position"])
    server.call("GET", f"/v1/jobs/{job_id}?minPosition={position}", key=keys.reader)
    server.call("GET", "/v1/jobs/does-not-exist", key=keys.reader)
    text = server.call("GET", "/metrics").body
    assert isinstance(text, str)

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, f"no {pattern!r} in /metrics"
        return float(match.group(1))

    assert value(r'jobstore_http_requests_total\{code="200",route="/v1/jobs:upsert"\}') >= 1
    assert value(r'jobstore_http_requests_total\{code="404",route="/v1/jobs/\{jobId\}"\}') >= 1
    assert value(r'jobstore_command_seconds_count\{command="UpsertJob"\}') >= 1
    assert value(r"jobstore_events_appended_total") >= 1
    assert value(r'jobstore_view_position\{view="JOB_VIEW_BASIC"\}') >= position
    assert value(r'jobstore_view_position\{view="JOB_VIEW_FULL"\}') >= position
    assert value(r"jobstore_log_head") >= position
    assert 'jobstore_view_lag_seconds{view="JOB_VIEW_FULL"}' in text
    assert "jobstore_conflicts_retried_total" in text
    assert "jobstore_http_request_seconds_bucket" in text


def test_every_request_logs_one_json_line_with_its_id_route_status_and_latency_and_never_the_key(
        server: Server, keys: Keys) -> None:
    request_id = unique("trace")
    reply = server.call("GET", "/v1/jobs/not-there", key=keys.reader, headers={"X-Request-Id": request_id})
    lines = [json.loads(line) for line in server.log().splitlines() if request_id in line]
    assert len(lines) == 1
    assert lines[0]["requestId"] == request_id
    assert lines[0]["serverRequestId"] == reply.headers["x-jobstore-request-id"] != request_id
    assert lines[0]["route"] == "/v1/jobs/{jobId}" and lines[0]["status"] == 404
    assert lines[0]["method"] == "GET" and lines[0]["latencyMs"] >= 0
    for key in (keys.reader, keys.writer, keys.admin, keys.auditor):
        assert key.split("_", 2)[2] not in server.log()
