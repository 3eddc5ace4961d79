"""Every error of the contract over HTTP: googlerpc Status bodies, grpc-gateway's statuses, the order of checks.

A refused write must store nothing. Each such test checks it twice: the next accepted write takes the very next
place in the global log (`X-Jobstore-Position`: tests in a module run one at a time against their own server),
and the job reads as before, both through the write side (an upsert with no mask bit writes nothing and returns
the job as it is) and through the views once they have caught up past that next write.
"""
from __future__ import annotations

import http.client
import json
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok, upsert

STRESS, CONTINUOUS = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST"
FILE_SCAN, IMAGE = "JOB_TYPE_FILE_SCAN", "JOB_TYPE_IMAGE_BUILDER"
REQUESTED, PENDING, RUNNING = "JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"
RECONCILING, SUCCEEDED = "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED"
FAILED, CANCELLED = "JOB_STATUS_FAILED", "JOB_STATUS_CANCELLED"
GENERIC = "TERMINATION_REASON_GENERIC_ERROR"
MIB = 1024 * 1024

INVALID_ARGUMENT, FAILED_PRECONDITION, NOT_FOUND = (3, 400), (9, 400), (5, 404)
UNAUTHENTICATED, PERMISSION_DENIED, ABORTED, RESOURCE_EXHAUSTED = (16, 401), (7, 403), (10, 409), (8, 429)
TRACE = re.compile(r"Traceback|File \"|\.py\", line|^\s+at |Exception:|Error\(", re.MULTILINE)


# --- helpers


def error(reply: Reply, expected: tuple[int, int], names: str | None = None) -> dict[str, Any]:
    """`reply` is a googlerpc Status with code and HTTP status `expected`, whose message names `names`."""
    code, http_status = expected
    assert (reply.status, reply.body.get("code") if isinstance(reply.body, dict) else None) == \
        (http_status, code), (reply.status, reply.body)
    assert set(reply.body) == {"code", "message", "details"}, reply.body
    assert isinstance(reply.body["message"], str) and reply.body["message"].strip()
    assert reply.body["details"] == []
    assert not TRACE.search(reply.body["message"]), f"stack trace in {reply.body['message']!r}"
    # A refused request has no place in the log; only a read that found no job, or refused the one it found,
    # says where the view it read stood.
    assert "x-jobstore-position" not in reply.headers or code in (5, 9), "a refused request has no place in the log"
    if names is not None:
        assert names in reply.body["message"], f"{reply.body['message']!r} does not name {names!r}"
    return reply.body


def position(reply: Reply) -> int:
    assert "x-jobstore-position" in reply.headers, f"an accepted change has a position: {reply.headers}"
    return int(reply.headers["x-jobstore-position"])


def comparable(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != "runningTimeSecs"}


class Ledger:
    """Tracks a test's last accepted write, to prove that the refused ones that follow stored nothing."""

    def __init__(self, server: Server, key: str) -> None:
        self.server, self.key = server, key
        self.last = 0

    def accepted(self, reply: Reply) -> dict[str, Any]:
        ok(reply)
        self.last = position(reply)
        return reply.body.get("job", {})

    def create(self, job: dict[str, Any]) -> dict[str, Any]:
        return self.accepted(upsert(self.server, self.key, job))

    def move(self, job_id: str, *statuses: str) -> dict[str, Any]:
        job: dict[str, Any] = {}
        for status in statuses:
            job = self.accepted(upsert(self.server, self.key, {"jobId": job_id, "status": status},
                                       {"status": True}))
        return job

    def stored_nothing(self, job_id: str, before: dict[str, Any] | None) -> None:
        """Nothing was appended since the last accepted write, and `job_id` is as it was (or still absent)."""
        probe_id = unique("probe")
        probe = ok(upsert(self.server, self.key, {"jobId": probe_id, "jobType": IMAGE}))
        assert position(probe) == self.last + 1, \
            f"the log moved from {self.last} to {position(probe) - 1} on a refused write"
        self.last = position(probe)
        now = upsert(self.server, self.key, {"jobId": job_id})
        shown = self.server.eventually(f"/v1/jobs/{quote(probe_id, safe='')}", self.key, lambda r: r.status == 200)
        assert shown.status == 200
        view = self.server.call("GET", f"/v1/jobs/{quote(job_id, safe='')}", key=self.key)
        if before is None:
            error(now, INVALID_ARGUMENT, "jobType")  # a job that does not exist needs a type to be created
            error(view, NOT_FOUND)
        else:
            assert now.status == 200 and "x-jobstore-position" not in now.headers, (now.status, now.body)
            assert comparable(now.body["job"]) == comparable(before)
            assert view.status == 200 and comparable(view.body["job"]) == comparable(before)


@pytest.fixture
def ledger(server: Server, keys: Keys) -> Ledger:
    return Ledger(server, keys.writer)


def stress_job(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"jobId": job_id, "jobType": STRESS,
            "jobData": {"stress": {"projectId": {"uuid": "p"}, "testRunId": "r"}}, **extra}


def job_in(ledger: Ledger, status: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """A new stress job brought to `status` by the allowed routes; returns its id and the job."""
    job_id = unique(status.removeprefix("JOB_STATUS_").lower())
    server, key = ledger.server, ledger.key
    if status == REQUESTED:
        return job_id, ledger.create(stress_job(job_id, **extra))
    job = ledger.create(stress_job(job_id, status=PENDING, **extra))
    if status in (RUNNING, SUCCEEDED):
        job = ledger.move(job_id, RUNNING)
    if status == RECONCILING:
        job = ledger.move(job_id, RECONCILING)
    if status == SUCCEEDED:
        job = ledger.move(job_id, SUCCEEDED)
    if status == FAILED:
        job = ledger.accepted(server.call("POST", f"/v1/jobs/{job_id}:fail",
                                          {"terminationReason": GENERIC, "errorMsg": "boom"}, key=key))
    if status == CANCELLED:
        ledger.accepted(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=key))
        job = ledger.accepted(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=key))
    assert job["status"] == status
    return job_id, job


@pytest.fixture(autouse=True)
def _server_stays_alive(server: Server) -> Any:
    yield
    assert server.process is not None and server.process.poll() is None, "jobstore serve died:\n" + server.log()
    assert server.call("GET", "/healthz").status == 200


# --- INVALID_ARGUMENT (3) / 400: the request's own validity


@pytest.mark.parametrize("raw", [b"{", b'{"job": {"jobId": "x",}}', b"not json", b'{"job": {"jobId": "x"}} trailing',
                                 b"\xff\xfe{}", b"[]", b'"job"', b"42", b"null", b""],
                         ids=["unclosed", "trailing-comma", "text", "trailing-data", "bad-utf8", "array", "string",
                              "number", "null", "empty"])
def test_a_malformed_upsert_body_is_invalid_argument_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger, raw: bytes) -> None:
    job_id, before = job_in(ledger, PENDING)
    if b'"x"' in raw:
        raw = raw.replace(b'"x"', json.dumps(job_id).encode())
    error(server.call("POST", "/v1/jobs:upsert", raw=raw, key=keys.writer), INVALID_ARGUMENT)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("route", [":fail", ":finalizeCancellation", "cancel"])
def test_a_malformed_body_on_the_other_write_routes_is_invalid_argument(
        server: Server, keys: Keys, ledger: Ledger, route: str) -> None:
    job_id, before = job_in(ledger, RUNNING)
    ledger.accepted(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))
    before = upsert(server, keys.writer, {"jobId": job_id}).body["job"]
    path = f"/v1/jobs/cancel/{job_id}" if route == "cancel" else f"/v1/jobs/{job_id}{route}"
    error(server.call("POST", path, raw=b'{"terminationReason": ', key=keys.writer), INVALID_ARGUMENT)
    error(server.call("POST", path, raw=b"[1, 2]", key=keys.writer), INVALID_ARGUMENT)
    ledger.stored_nothing(job_id, before)


def upsert_is_refused_naming(server: Server, keys: Keys, ledger: Ledger, job_id: str, body: dict[str, Any],
                             field: str) -> None:
    """`body` (with "ID" standing for `job_id`) is INVALID_ARGUMENT naming `field`, and stores nothing."""
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    body = json.loads(json.dumps(body).replace('"ID"', json.dumps(job_id)))
    error(server.call("POST", "/v1/jobs:upsert", body, key=keys.writer), INVALID_ARGUMENT, field)
    ledger.stored_nothing(job_id, None)


@pytest.mark.parametrize(("body", "field"), [
    ({"job": {"jobId": "ID", "jobType": "JOB_TYPE_TELEPORT"}}, "jobType"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "status": "JOB_STATUS_DONE"}}, "status"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "terminationReason": "TERMINATION_REASON_BORED"}},
     "terminationReason"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "status": "job_status_pending"}}, "status"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": {"stress": {"progress": {"testRun": {
        "status": "TEST_TASK_STATUS_MAYBE"}}}}}}, "status"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": {"stress": {"progress": {"testRun": {
        "testBatches": [{"type": "a", "status": "DONE"}]}}}}}}, "testBatches"),
], ids=["jobType", "status", "terminationReason", "lowercase-status", "test-run-status", "batch-status"])
def test_an_unknown_enum_name_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger, body: dict[str, Any], field: str) -> None:
    upsert_is_refused_naming(server, keys, ledger, unique("enum"), body, field)


def test_an_unknown_termination_reason_on_fail_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, RUNNING)
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_TIRED"},
                      key=keys.writer), INVALID_ARGUMENT, "terminationReason")
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": 2}, key=keys.writer),
          INVALID_ARGUMENT, "terminationReason")
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize(("body", "field"), [
    ({"job": {"jobId": 12345, "jobType": IMAGE}}, "jobId"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "agentId": "agent-1"}}, "agentId"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "agentId": {"uuid": 7}}}, "uuid"),
    ({"job": {"jobId": "ID", "jobType": CONTINUOUS, "jobData": {"continuousInc": {"ctTestRunIds": "a,b"}}}},
     "ctTestRunIds"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": [{"stress": {}}]}}, "jobData"),
    ({"job": {"jobId": "ID", "jobType": IMAGE}, "writeMask": {"status": "maybe"}}, "status"),
    ({"job": {"jobId": "ID", "jobType": IMAGE}, "writeMask": ["status"]}, "writeMask"),
    ({"job": "ID"}, "job"),
    ({"job": {"jobId": "ID", "jobType": IMAGE,
              "archivedJobLogs": {"url": {"url": "https://x"}, "expirationTime": "next tuesday"}}},
     "expirationTime"),
], ids=["jobId-number", "agentId-string", "uuid-number", "list-as-string", "jobData-list", "mask-bit-string",
        "mask-list", "job-string", "bad-time"])
def test_a_field_of_the_wrong_type_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger, body: dict[str, Any], field: str) -> None:
    upsert_is_refused_naming(server, keys, ledger, unique("type"), body, field)


@pytest.mark.parametrize(("body", "field"), [
    ({"job": {"jobId": "ID", "jobType": IMAGE}, "colour": "blue"}, "colour"),
    ({"job": {"jobId": "ID", "jobType": IMAGE, "priority": 5}}, "priority"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": {"stress": {"projectId": {"uuid": "p"},
                                                                       "owner": "me"}}}}, "owner"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": {"stress": {"projectId": {"uuid": "p", "id": "q"}}}}},
     "id"),
    ({"job": {"jobId": "ID", "jobType": IMAGE}, "writeMask": {"everything": True}}, "everything"),
    ({"job": {"jobId": "ID", "jobType": STRESS, "jobData": {"generativeModel": {}}}}, "generativeModel"),
], ids=["top-level", "job", "jobData-stress", "rimeUUID", "writeMask", "jobData-kind"])
def test_an_unknown_field_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger, body: dict[str, Any], field: str) -> None:
    upsert_is_refused_naming(server, keys, ledger, unique("unknown"), body, field)


# --- strict parsing: JSON, booleans, times, links, test batches (each refused request stores nothing)


@pytest.mark.parametrize("bit", ["yes", 1, "off", 0.0], ids=["yes", "one", "off", "zero-float"])
def test_a_mask_bit_that_is_not_a_json_boolean_is_invalid_argument_and_writes_nothing(
        server: Server, keys: Keys, ledger: Ledger, bit: Any) -> None:
    job_id, before = job_in(ledger, PENDING)
    error(upsert(server, keys.writer, {"jobId": job_id, "status": RUNNING}, {"status": bit}), INVALID_ARGUMENT,
          "writeMask.status")
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize(("job", "field"), [
    ({"jobType": IMAGE, "archivedJobLogs": {"url": {"url": "https://logs.example/1"}, "expirationTime": 1798761600}},
     "job.archivedJobLogs.expirationTime"),
    ({"jobType": IMAGE, "archivedJobLogs": {"expirationTime": "1798761600"}}, "job.archivedJobLogs.expirationTime"),
    ({"jobType": IMAGE, "archivedJobLogs": {"expirationTime": "2027-01-01T00:00:00"}},
     "job.archivedJobLogs.expirationTime"),
    ({"jobType": IMAGE, "startTime": 0}, "job.startTime"),
    ({"jobType": CONTINUOUS, "jobData": {"continuousInc": {"progress": {"testRuns": [{"binStartTime": 1798761600}]}}}},
     "job.jobData.continuousInc.progress.testRuns.0.binStartTime"),
    ({"jobType": IMAGE, "archivedJobLogs": {"expirationTime": "9999-12-31T23:59:59-23:59"}},
     "job.archivedJobLogs.expirationTime"),
    ({"jobType": CONTINUOUS, "jobData": {"continuousInc": {"progress": {"testRuns": [
        {"binEndTime": "0001-01-01T00:00:00+23:59"}]}}}}, "job.jobData.continuousInc.progress.testRuns.0.binEndTime"),
], ids=["unix-number", "unix-string", "no-offset", "output-only-number", "bin-number", "past-year-9999",
        "before-year-1"])
def test_a_time_that_is_not_an_rfc3339_string_within_the_calendar_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger, job: dict[str, Any], field: str) -> None:
    upsert_is_refused_naming(server, keys, ledger, unique("time"), {"job": {"jobId": "ID", **job}}, field)


@pytest.mark.parametrize(("template", "encoding", "names"), [
    ('{"job": {"jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": NaN}}', "utf-8", "NaN"),
    ('{"job": {"jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": -Infinity}}', "utf-8",
     "Infinity"),
    ('{"job": {"jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": 1e999}}', "utf-8",
     "job.runningTimeSecs"),
    ('{"job": {"jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}', "utf-16", "UTF-8"),
    ('{"job": {"jobId": "ID-a", "jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}', "utf-8", '"jobId"'),
    ('{"job": {"jobId": "ID", "jobType": "JOB_TYPE_IMAGE_BUILDER", "agentId": {"uuid": "a", "uuid": "b"}}}', "utf-8",
     '"uuid"'),
], ids=["nan", "minus-infinity", "1e999", "utf-16", "duplicate-job-id", "duplicate-nested-key"])
def test_a_body_that_is_not_strict_json_is_invalid_argument_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger, template: str, encoding: str, names: str) -> None:
    job_id = unique("strict")
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    raw = template.replace("ID", job_id).encode(encoding)
    error(server.call("POST", "/v1/jobs:upsert", raw=raw, key=keys.writer), INVALID_ARGUMENT, names)
    ledger.stored_nothing(job_id, None)
    error(server.call("GET", f"/v1/jobs/{job_id}-a", key=keys.reader), NOT_FOUND)


def test_a_test_batch_or_test_run_reported_twice_is_invalid_argument_naming_it_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, RUNNING)
    copies = [{"type": "drift", "status": "TEST_TASK_STATUS_COMPLETED"}] * 10_000
    reply = upsert(server, keys.writer, {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {
        "testRunId": "r", "testBatches": copies}}}}}, {"jobData": {"stress": {"progress": True}}})
    error(reply, INVALID_ARGUMENT, "job.jobData.stress.progress.testRun.testBatches")
    assert "'drift'" in reply.body["message"]
    ledger.stored_nothing(job_id, before)
    full = server.call("GET", f"/v1/jobs/{job_id}?view=JOB_VIEW_FULL", key=keys.reader).body["job"]
    assert "jobProgressStr" not in full and "progress" not in full["jobData"]["stress"]

    batch = {"type": "a", "status": "TEST_TASK_STATUS_COMPLETED"}
    twice_in_a_run = [{"testRun": {"testRunId": "ct-1", "testBatches": [batch, batch]}}]
    upsert_is_refused_naming(server, keys, ledger, unique("ct"), {"job": {"jobId": "ID", "jobType": CONTINUOUS,
        "jobData": {"continuousInc": {"progress": {"testRuns": twice_in_a_run}}}}},
        "job.jobData.continuousInc.progress.testRuns.0.testRun.testBatches")
    run_twice = [{"testRun": {"testRunId": "ct-1", "status": "TEST_TASK_STATUS_COMPLETED"}}] * 2
    upsert_is_refused_naming(server, keys, ledger, unique("ct"), {"job": {"jobId": "ID", "jobType": CONTINUOUS,
        "jobData": {"continuousInc": {"ctTestRunIds": ["ct-1"], "progress": {"testRuns": run_twice}}}}},
        "job.jobData.continuousInc.progress.testRuns: holds the test run 'ct-1' twice")


@pytest.mark.parametrize("url", ["javascript:alert(document.cookie)", "http://logs.example/1", "https:///1"],
                         ids=["javascript", "http", "no-host"])
def test_an_archived_logs_url_that_is_not_an_absolute_https_url_is_invalid_argument_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger, url: str) -> None:
    job_id, before = job_in(ledger, SUCCEEDED)  # logs are archived once a job has ended
    error(upsert(server, keys.writer, {"jobId": job_id, "archivedJobLogs": {"url": {"url": url}}},
                 {"archivedJobLogs": True}), INVALID_ARGUMENT, "job.archivedJobLogs.url.url")
    ledger.stored_nothing(job_id, before)
    upsert_is_refused_naming(server, keys, ledger, unique("url"), {"job": {"jobId": "ID", "jobType": IMAGE,
        "archivedJobLogs": {"url": {"url": url}}}}, "job.archivedJobLogs.url.url")


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59"])
def test_an_as_of_time_that_leaves_the_calendar_in_utc_is_invalid_argument_not_a_server_error(
        server: Server, keys: Keys, ledger: Ledger, as_of: str) -> None:
    job_id, _ = job_in(ledger, PENDING)
    reply = server.call("GET", f"/v1/jobs/{job_id}?asOf={quote(as_of, safe=':')}", key=keys.auditor)
    error(reply, INVALID_ARGUMENT, "asOf")
    assert "out of range" in reply.body["message"]
    assert "OverflowError" not in server.log()


def test_an_unknown_field_on_fail_and_cancel_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, RUNNING)
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "reasonText": "x"},
                      key=keys.writer), INVALID_ARGUMENT, "reasonText")
    error(server.call("POST", f"/v1/jobs/cancel/{job_id}", {"force": True}, key=keys.writer),
          INVALID_ARGUMENT, "force")
    error(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", {"force": True}, key=keys.writer),
          INVALID_ARGUMENT, "force")
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("job_id", ["", " ", "a b", "a/b", "tab\there", "bell\x07", "new\nline", "x" * 129,
                                    "zero\u200bwidth", "nbsp\u00a0x"],
                         ids=["empty", "space", "inner-space", "slash", "tab", "control", "newline", "129-chars",
                              "format-char", "nbsp"])
def test_an_upsert_with_a_bad_job_id_is_invalid_argument(
        server: Server, keys: Keys, ledger: Ledger, job_id: str) -> None:
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    error(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE}), INVALID_ARGUMENT, "jobId")
    probe = ok(upsert(server, keys.writer, {"jobId": unique("probe"), "jobType": IMAGE}))
    assert position(probe) == ledger.last + 1


def test_an_upsert_without_a_job_id_is_invalid_argument(server: Server, keys: Keys, ledger: Ledger) -> None:
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    error(upsert(server, keys.writer, {"jobType": IMAGE}), INVALID_ARGUMENT, "jobId")
    error(server.call("POST", "/v1/jobs:upsert", {"writeMask": {}}, key=keys.writer), INVALID_ARGUMENT, "job")
    probe = ok(upsert(server, keys.writer, {"jobId": unique("probe"), "jobType": IMAGE}))
    assert position(probe) == ledger.last + 1


def test_the_longest_allowed_job_id_is_accepted(server: Server, keys: Keys) -> None:
    job_id = unique("long")
    job_id += "x" * (128 - len(job_id))
    assert ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE})).body["job"]["jobId"] == job_id


ROUTES_WITH_JOB_ID = [("GET", "/v1/jobs/{}"), ("GET", "/v1/jobs/{}/project-id"), ("GET", "/v1/jobs/{}/test-run-id"),
                      ("POST", "/v1/jobs/{}:fail"), ("POST", "/v1/jobs/cancel/{}"),
                      ("POST", "/v1/jobs/{}:finalizeCancellation")]


@pytest.mark.parametrize(("method", "route"), ROUTES_WITH_JOB_ID,
                         ids=["get", "project-id", "test-run-id", "fail", "cancel", "finalize"])
@pytest.mark.parametrize("bad", ["a%20b", "x" * 129, "bell%07", "tab%09x"], ids=["space", "129-chars", "control",
                                                                                  "tab"])
def test_a_bad_job_id_in_the_path_is_invalid_argument_on_every_route(
        server: Server, keys: Keys, method: str, route: str, bad: str) -> None:
    body = {"terminationReason": GENERIC} if route.endswith(":fail") else None
    error(server.call(method, route.format(bad), body, key=keys.writer), INVALID_ARGUMENT, "jobId")


@pytest.mark.parametrize(("method", "route"), ROUTES_WITH_JOB_ID,
                         ids=["get", "project-id", "test-run-id", "fail", "cancel", "finalize"])
def test_a_job_id_with_a_percent_encoded_slash_is_invalid_argument(
        server: Server, keys: Keys, method: str, route: str) -> None:
    """The platform SDK percent-encodes '/' in a job id (quote(id, safe='')); a job id may not contain one."""
    body = {"terminationReason": GENERIC} if route.endswith(":fail") else None
    error(server.call(method, route.format("a%2Fb"), body, key=keys.writer), INVALID_ARGUMENT, "jobId")


@pytest.mark.parametrize("path", ["/v1/jobs/{job}?view=JOB_VIEW_EVERYTHING", "/v1/jobs/{job}?view=FULL",
                                  "/v1/jobs/{job}?view=job_view_full", "/v1/jobs/{job}?view=2",
                                  "/v1/jobs/project/p?view=JOB_VIEW_HUGE", "/v1/jobs?view=BASIC"],
                         ids=["get-unknown", "get-short", "get-lowercase", "get-number", "project-list", "list"])
def test_a_bad_view_is_invalid_argument_naming_view(server: Server, keys: Keys, path: str) -> None:
    job_id = unique("view")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE}))
    server.eventually(f"/v1/jobs/{job_id}", keys.reader, lambda r: r.status == 200)
    error(server.call("GET", path.format(job=job_id), key=keys.reader), INVALID_ARGUMENT, "view")


@pytest.mark.parametrize("size", ["-1", "-500", "abc", "1.5", "99999999999999999999999"],
                         ids=["minus-one", "minus-500", "text", "fraction", "overflow"])
@pytest.mark.parametrize("path", ["/v1/jobs/project/p", "/v1/jobs"], ids=["project", "all"])
def test_a_negative_or_non_integer_page_size_is_invalid_argument(
        server: Server, keys: Keys, path: str, size: str) -> None:
    reply = server.call("GET", f"{path}?pageSize={size}", key=keys.reader)
    if size == "99999999999999999999999":  # too big for an int32: either refused or clamped, never a crash
        assert reply.status in (200, 400), reply.body
        if reply.status == 400:
            error(reply, INVALID_ARGUMENT, "pageSize")
        return
    error(reply, INVALID_ARGUMENT, "pageSize")


@pytest.fixture(scope="module")
def paged(server: Server, keys: Keys) -> dict[str, Any]:
    """Two projects with three jobs each, and first-page tokens of several queries."""
    projects = [unique("tokens"), unique("tokens")]
    agent = unique("agent")
    for project in projects:
        for _ in range(3):
            ok(upsert(server, keys.writer, {**stress_job(unique("t"), status=PENDING), "agentId": {"uuid": agent},
                                            "jobData": {"stress": {"projectId": {"uuid": project}}}}))
    for project in projects:
        server.eventually(f"/v1/jobs/project/{project}", keys.reader, lambda r: len(r.body.get("jobs", [])) == 3)

    def token(path: str) -> str:
        reply = server.call("GET", path, key=keys.reader)
        assert reply.status == 200 and reply.body["hasMore"], reply.body
        return str(reply.body["nextPageToken"])

    return {
        "projects": projects,
        "a": token(f"/v1/jobs/project/{projects[0]}?pageSize=1"),
        "a_pending": token(f"/v1/jobs/project/{projects[0]}?pageSize=1&firstPageQuery.selectedStatuses="
                           f"{PENDING}"),
        "a_stress": token(f"/v1/jobs/project/{projects[0]}?pageSize=1&firstPageQuery.selectedTypes={STRESS}"),
        "all": token("/v1/jobs?pageSize=1"),
        "agent": token(f"/v1/jobs?pageSize=1&agentId.uuid={agent}"),
    }


def test_a_page_token_this_service_did_not_issue_is_invalid_argument(
        server: Server, keys: Keys, paged: dict[str, Any]) -> None:
    project = paged["projects"][0]
    token = paged["a"]
    body, _, signature = token.partition(".")
    forged = [
        "garbage", "", ".", "a.b", token[:-1], token + "x", body, f"{body}.{signature[::-1]}",
        f"{body[:-2]}{'A' if body[-2] != 'A' else 'B'}{body[-1]}.{signature}",
        "eyJxIjp7fSwiayI6WyIyMDAwIiwiYSJdfQ.AAAAAAAAAAAAAAAAAAAAAAAA",
    ]
    for bad in forged:
        reply = server.call("GET", f"/v1/jobs/project/{project}?" + urlencode({"pageToken": bad}), key=keys.reader)
        if bad == "":  # an empty token is no token: the first page
            assert reply.status == 200, reply.body
            continue
        error(reply, INVALID_ARGUMENT, "pageToken")


def test_a_page_token_from_another_query_is_invalid_argument(
        server: Server, keys: Keys, paged: dict[str, Any]) -> None:
    first, second = paged["projects"]
    cases = [
        (f"/v1/jobs/project/{second}", paged["a"]),
        (f"/v1/jobs/project/{first}", paged["all"]),
        ("/v1/jobs", paged["a"]),
        (f"/v1/jobs/project/{first}?firstPageQuery.selectedStatuses={RUNNING}", paged["a_pending"]),
        (f"/v1/jobs/project/{first}?firstPageQuery.selectedTypes={FILE_SCAN}", paged["a_stress"]),
        (f"/v1/jobs/project/{first}?firstPageQuery.selectedStatuses={PENDING}", paged["a_stress"]),
        (f"/v1/jobs?agentId.uuid={unique('other-agent')}", paged["agent"]),
    ]
    for path, token in cases:
        joiner = "&" if "?" in path else "?"
        reply = server.call("GET", path + joiner + urlencode({"pageToken": token}), key=keys.reader)
        error(reply, INVALID_ARGUMENT, "pageToken")


@pytest.mark.parametrize("param", ["firstPageQuery.selectedStatuses", "firstPageQuery.selectedTypes"])
@pytest.mark.parametrize("path", ["/v1/jobs/project/p", "/v1/jobs"], ids=["project", "all"])
def test_an_unknown_filter_value_is_invalid_argument_naming_the_filter(
        server: Server, keys: Keys, path: str, param: str) -> None:
    good = PENDING if param.endswith("Statuses") else STRESS
    reply = server.call("GET", f"{path}?{param}={good}&{param}=NOT_A_THING", key=keys.reader)
    error(reply, INVALID_ARGUMENT, param.split(".")[-1])


@pytest.mark.parametrize(("job", "mask", "field"), [
    ({"jobType": None}, None, "jobType"),
    ({"jobType": "JOB_TYPE_UNSPECIFIED"}, None, "jobType"),
    ({"status": CANCELLED}, None, "status"),
    ({"jobData": {"continuousInc": {"firewallId": "f"}}}, None, "jobData"),
    ({"jobType": IMAGE, "jobData": {"stress": {"testRunId": "r"}}}, None, "jobData"),
    ({"jobData": {"stress": {"testRunId": "r"}, "fileScan": {"fileScanId": "f"}}}, None, "jobData"),
], ids=["no-type", "unspecified-type", "cancelled", "other-kind", "image-with-data", "two-kinds"])
def test_an_invalid_new_job_is_invalid_argument_and_is_not_created(
        server: Server, keys: Keys, ledger: Ledger, job: dict[str, Any], mask: dict[str, Any] | None,
        field: str) -> None:
    job_id = unique("invalid-new")
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    body = {"jobId": job_id, "jobType": STRESS, **job}
    body = {k: v for k, v in body.items() if v is not None}
    error(upsert(server, keys.writer, body, mask), INVALID_ARGUMENT, field)
    ledger.stored_nothing(job_id, None)


@pytest.mark.parametrize(("job", "mask", "field"), [
    ({}, {"status": True}, "status"),
    ({"status": "JOB_STATUS_UNSPECIFIED"}, {"status": True}, "status"),
    ({}, {"termReason": True}, "termReason"),
    ({"terminationReason": "TERMINATION_REASON_UNSPECIFIED"}, {"termReason": True}, "termReason"),
    ({}, {"agentId": True}, "agentId"),
    ({}, {"archivedJobLogs": True}, "archivedJobLogs"),
    ({"jobData": {"stress": {"projectId": {"uuid": "q"}}}}, {"jobData": {"stress": {"testRunId": True}}},
     "testRunId"),
    ({}, {"jobData": {"stress": {"progress": True}}}, "progress"),
    ({"jobData": {"fileScan": {"fileScanId": "f"}}}, {"jobData": {"fileScan": {"fileScanId": True}}}, "fileScan"),
    ({"jobData": {"stress": {"testRunId": "r2"}}}, {"jobData": {"continuousInc": {"firewallId": True}}},
     "continuousInc"),
    ({"status": CANCELLED}, {"status": True}, "status"),
    ({"jobType": FILE_SCAN}, None, "jobType"),
], ids=["status-not-carried", "status-unspecified", "reason-not-carried", "reason-unspecified",
        "agent-not-carried", "logs-not-carried", "data-field-not-carried", "progress-not-carried",
        "data-of-other-type", "mask-of-other-type", "cancelled-by-upsert", "type-change"])
def test_an_invalid_update_is_invalid_argument_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger, job: dict[str, Any], mask: dict[str, Any] | None,
        field: str) -> None:
    job_id, before = job_in(ledger, RUNNING)
    reply = upsert(server, keys.writer, {"jobId": job_id, **job}, mask)
    if field == "jobType":  # the contract says a type never changes; it does not name the code
        assert reply.status == 400 and reply.body.get("code") in (3, 9), reply.body
        error(reply, (reply.body["code"], 400), "jobType")
    else:
        error(reply, INVALID_ARGUMENT, field)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("body", [{}, {"terminationReason": "TERMINATION_REASON_UNSPECIFIED"},
                                  {"errorMsg": "no reason given"}, {"terminationReason": None}],
                         ids=["empty", "unspecified", "message-only", "null"])
def test_fail_without_a_termination_reason_is_invalid_argument(
        server: Server, keys: Keys, ledger: Ledger, body: dict[str, Any]) -> None:
    job_id, before = job_in(ledger, RUNNING)
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", body, key=keys.writer), INVALID_ARGUMENT,
          "terminationReason")
    ledger.stored_nothing(job_id, before)


def test_a_string_over_4_kib_is_invalid_argument(server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, RUNNING)
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "errorMsg": "e" * 4097},
                      key=keys.writer), INVALID_ARGUMENT, "errorMsg")
    error(upsert(server, keys.writer, {"jobId": job_id, "agentId": {"uuid": "a" * 5000}}, {"agentId": True}),
          INVALID_ARGUMENT, "uuid")
    ledger.stored_nothing(job_id, before)


# --- FAILED_PRECONDITION (9) / 400: the job's state; and the transition table, cell by cell

# The contract's transition table, transcribed here on purpose rather than imported from domain/transitions.py:
# the contract is the source of truth, and the product's own copy is what is under test.
TABLE = {  # from -> the statuses an upsert may move it to (CANCELLED only via finalize)
    REQUESTED: {PENDING, RECONCILING, FAILED},
    PENDING: {RUNNING, RECONCILING, FAILED},
    RUNNING: {RECONCILING, SUCCEEDED, FAILED},
    RECONCILING: {PENDING, RUNNING, SUCCEEDED, FAILED},
    SUCCEEDED: set(), FAILED: set(), CANCELLED: set(),
}


@pytest.mark.parametrize("target", [REQUESTED, PENDING, RUNNING, RECONCILING, SUCCEEDED, FAILED])
@pytest.mark.parametrize("origin", list(TABLE))
def test_an_upsert_status_change_follows_the_transition_table(
        server: Server, keys: Keys, ledger: Ledger, origin: str, target: str) -> None:
    job_id, before = job_in(ledger, origin)
    reply = upsert(server, keys.writer, {"jobId": job_id, "status": target}, {"status": True})
    if target == origin:
        assert reply.status == 200 and "x-jobstore-position" not in reply.headers, reply.body
        ledger.stored_nothing(job_id, before)
    elif target in TABLE[origin]:
        job = ledger.accepted(reply)
        assert job["status"] == target
        if target in (SUCCEEDED, FAILED):
            assert "completionTime" in job
    else:
        error(reply, FAILED_PRECONDITION)
        ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("status", [RUNNING, RECONCILING, SUCCEEDED, FAILED])
def test_a_new_job_that_starts_anywhere_but_requested_or_pending_is_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger, status: str) -> None:
    job_id = unique("bad-start")
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    error(upsert(server, keys.writer, stress_job(job_id, status=status)), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, None)


@pytest.mark.parametrize(("mask", "job"), [
    ({"agentId": True}, {"agentId": {"uuid": "late"}}),
    ({"termReason": True}, {"terminationReason": "TERMINATION_REASON_OOMKILLED"}),
    ({"jobData": {"stress": {"testRunId": True}}}, {"jobData": {"stress": {"testRunId": "other"}}}),
    ({"jobData": {"stress": {"progress": True}}}, {"jobData": {"stress": {"progress": {"testRun": {}}}}}),
    ({"agentId": True, "archivedJobLogs": True},
     {"agentId": {"uuid": "late"}, "archivedJobLogs": {"url": {"url": "https://l"}}}),
], ids=["agent", "reason", "test-run", "progress", "agent-and-logs"])
@pytest.mark.parametrize("terminal", [SUCCEEDED, FAILED, CANCELLED])
def test_changing_anything_but_archived_logs_on_a_terminal_job_is_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger, terminal: str, mask: dict[str, Any], job: dict[str, Any]) -> None:
    job_id, before = job_in(ledger, terminal)
    error(upsert(server, keys.writer, {"jobId": job_id, **job}, mask), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize(("terminal", "body"), [
    (SUCCEEDED, {"terminationReason": GENERIC, "errorMsg": "boom"}),
    (CANCELLED, {"terminationReason": GENERIC, "errorMsg": "boom"}),
    (FAILED, {"terminationReason": GENERIC, "errorMsg": "another message"}),
    (FAILED, {"terminationReason": "TERMINATION_REASON_OOMKILLED", "errorMsg": "boom"}),
    (FAILED, {"terminationReason": GENERIC}),
], ids=["succeeded", "cancelled", "failed-other-message", "failed-other-reason", "failed-no-message"])
def test_failing_a_terminal_job_is_failed_precondition_unless_it_repeats_the_failure(
        server: Server, keys: Keys, ledger: Ledger, terminal: str, body: dict[str, Any]) -> None:
    job_id, before = job_in(ledger, terminal)
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", body, key=keys.writer), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("terminal", [SUCCEEDED, FAILED, CANCELLED])
def test_requesting_cancellation_of_a_terminal_job_is_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger, terminal: str) -> None:
    job_id, before = job_in(ledger, terminal)
    error(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("status", [REQUESTED, PENDING, RUNNING, RECONCILING, SUCCEEDED, FAILED])
def test_finalizing_without_a_cancellation_request_or_on_another_terminal_status_is_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger, status: str) -> None:
    job_id, before = job_in(ledger, status)
    error(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, before)


@pytest.mark.parametrize("terminal", [SUCCEEDED, FAILED])
def test_finalizing_a_job_that_ended_otherwise_after_a_cancellation_request_is_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger, terminal: str) -> None:
    job_id, _ = job_in(ledger, RUNNING)
    ledger.accepted(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))
    if terminal == SUCCEEDED:
        before = ledger.move(job_id, SUCCEEDED)
    else:
        before = ledger.accepted(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC},
                                             key=keys.writer))
    assert before["cancellationRequested"] is True
    error(server.call("POST", f"/v1/jobs/{job_id}:finalizeCancellation", key=keys.writer), FAILED_PRECONDITION)
    ledger.stored_nothing(job_id, before)


# --- NOT_FOUND (5) / 404


@pytest.mark.parametrize(("method", "route"), ROUTES_WITH_JOB_ID,
                         ids=["get", "project-id", "test-run-id", "fail", "cancel", "finalize"])
def test_an_unknown_job_is_not_found_on_every_route(
        server: Server, keys: Keys, ledger: Ledger, method: str, route: str) -> None:
    job_id = unique("missing")
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    body = {"terminationReason": GENERIC, "errorMsg": "x"} if route.endswith(":fail") else None
    error(server.call(method, route.format(job_id), body, key=keys.writer), NOT_FOUND, job_id)
    if method == "POST":
        ledger.stored_nothing(job_id, None)


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/nothing"), ("GET", "/v2/jobs"), ("POST", "/v1/nothing:do"), ("GET", "/v1/jobs/x/extra"),
    ("GET", "/v1/jobs/x/project-id/more"), ("GET", "/"), ("POST", "/v1/jobs/cancel/x/y"),
    ("GET", "/v1/jobs/project/p/more"),
], ids=["v1-nothing", "v2", "unknown-post", "extra-segment", "deeper", "root", "cancel-deeper", "project-deeper"])
def test_an_unknown_route_is_not_found_with_a_googlerpc_body(
        server: Server, keys: Keys, method: str, path: str) -> None:
    error(server.call(method, path, {} if method == "POST" else None, key=keys.writer), NOT_FOUND)


# --- UNAUTHENTICATED (16) / 401 and PERMISSION_DENIED (7) / 403


def test_a_request_without_a_key_or_with_an_unknown_key_is_unauthenticated(server: Server, keys: Keys) -> None:
    for key in (None, "jsk_0000000000000000_nope", "not-a-key", keys.writer[:-2] + "xx"):
        error(server.call("GET", "/v1/jobs", key=key), UNAUTHENTICATED)
        error(upsert(server, key or "", {"jobId": unique("anon"), "jobType": IMAGE}), UNAUTHENTICATED)
    error(server.call("GET", "/v1/jobs", headers={"Authorization": f"Bearer {keys.admin}"}), UNAUTHENTICATED)


def test_a_key_without_the_role_is_permission_denied_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, RUNNING)
    for key in (keys.reader, keys.auditor):
        error(upsert(server, key, {"jobId": job_id, "status": SUCCEEDED}, {"status": True}), PERMISSION_DENIED)
        error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC}, key=key),
              PERMISSION_DENIED)
        error(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=key), PERMISSION_DENIED)
    ledger.stored_nothing(job_id, before)


# --- the order of checks: authentication and role, validity, existence, state


def test_no_key_comes_before_an_invalid_body(server: Server) -> None:
    error(server.call("POST", "/v1/jobs:upsert", raw=b"{not json"), UNAUTHENTICATED)
    error(server.call("POST", "/v1/jobs:upsert", raw=b"{not json", key="jsk_unknown_key"), UNAUTHENTICATED)
    error(server.call("GET", "/v1/jobs/a%20b?view=BAD"), UNAUTHENTICATED)


LONG_REQUEST_ID, JSON_REQUEST_ID = "x" * 300, 'x","actor":{"name":"admin"}'
REFUSED_BUT_FOR_THE_KEY = [("GET", "/v1/jobs/a%2Fb", None), ("GET", "/v1/jobs/a%2fb/events", None),
                           ("POST", "/v1/jobs/a%2Fb:fail", None), ("POST", "/v1/jobs/cancel/a%2Fb", None),
                           ("GET", "/v1/jobs/a%2Fb?version=abc", None), ("GET", "/v1/jobs/j", LONG_REQUEST_ID),
                           ("POST", "/v1/jobs:upsert", JSON_REQUEST_ID), ("GET", "/v1/jobs/a%2Fb", LONG_REQUEST_ID)]


@pytest.mark.parametrize(("method", "path", "request_id"), REFUSED_BUT_FOR_THE_KEY,
                         ids=["get-slash", "history-slash", "fail-slash", "cancel-slash", "get-slash-version",
                              "long-request-id", "json-request-id", "slash-and-long-request-id"])
def test_no_key_comes_before_a_slash_in_the_job_id_and_a_bad_request_id(
        server: Server, method: str, path: str, request_id: str | None) -> None:
    headers = {"X-Request-Id": request_id} if request_id else None
    error(server.call(method, path, {} if method == "POST" else None, headers=headers), UNAUTHENTICATED)


def test_a_key_without_the_role_comes_before_a_slash_in_the_job_id_and_a_bad_request_id(
        server: Server, keys: Keys) -> None:
    error(server.call("POST", "/v1/jobs/a%2Fb:fail", {}, key=keys.reader), PERMISSION_DENIED)
    error(server.call("GET", "/v1/jobs/a%2Fb/events", key=keys.writer), PERMISSION_DENIED)
    error(server.call("POST", "/v1/jobs/cancel/j", key=keys.auditor, headers={"X-Request-Id": "x" * 300}),
          PERMISSION_DENIED)


@pytest.mark.parametrize("query", ["version=abc", "version=", "version=-1", "asOf=yesterday",
                                   "version=1&asOf=2026-01-01T00:00:00Z", "version=1&view=JOB_VIEW_NOPE"])
def test_a_reader_asking_for_a_job_as_it_was_is_permission_denied_before_the_query_is_checked(
        server: Server, keys: Keys, query: str) -> None:
    error(server.call("GET", f"/v1/jobs/{unique('past')}?{query}", key=keys.reader), PERMISSION_DENIED, "asOf")
    error(server.call("GET", f"/v1/jobs/a%2Fb?{query}", key=keys.writer), PERMISSION_DENIED)


def test_once_the_caller_may_ask_a_slash_in_the_job_id_and_a_bad_request_id_are_invalid_argument(
        server: Server, keys: Keys) -> None:
    error(server.call("GET", "/v1/jobs/a%2Fb/events", key=keys.auditor), INVALID_ARGUMENT, "jobId")
    error(server.call("GET", "/v1/jobs/a%2Fb?version=1", key=keys.auditor), INVALID_ARGUMENT, "jobId")
    error(server.call("GET", "/v1/jobs/ok-id", key=keys.reader, headers={"X-Request-Id": "x" * 300}),
          INVALID_ARGUMENT, "X-Request-Id")


def test_routes_without_keys_answer_whatever_the_request_id(server: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        reply = server.call("GET", path, headers={"X-Request-Id": "x" * 300})
        assert reply.status == 200, (path, reply.status, reply.body)
        assert reply.headers.get("x-request-id") not in (None, "x" * 300), "a refused id is replaced, not echoed"


def test_a_reader_key_with_an_invalid_body_is_permission_denied_not_invalid_argument(
        server: Server, keys: Keys) -> None:
    missing = unique("missing")
    error(server.call("POST", "/v1/jobs:upsert", raw=b"{not json", key=keys.reader), PERMISSION_DENIED)
    error(upsert(server, keys.reader, {"jobId": "a b", "status": "NOPE"}), PERMISSION_DENIED)
    error(server.call("POST", f"/v1/jobs/{missing}:fail", {"terminationReason": "NOPE"}, key=keys.reader),
          PERMISSION_DENIED)
    error(server.call("POST", "/v1/jobs/a%20b:finalizeCancellation", raw=b"[", key=keys.auditor),
          PERMISSION_DENIED)
    error(server.call("POST", f"/v1/jobs/cancel/{missing}", key=keys.reader), PERMISSION_DENIED)


def test_an_invalid_request_on_a_missing_job_is_invalid_argument_not_not_found(
        server: Server, keys: Keys) -> None:
    missing = unique("missing")
    error(server.call("POST", f"/v1/jobs/{missing}:fail", {"terminationReason": "NOPE"}, key=keys.writer),
          INVALID_ARGUMENT, "terminationReason")
    error(server.call("POST", f"/v1/jobs/{missing}:fail", {}, key=keys.writer), INVALID_ARGUMENT,
          "terminationReason")
    error(server.call("POST", f"/v1/jobs/{missing}:fail", raw=b"{", key=keys.writer), INVALID_ARGUMENT)
    error(server.call("POST", f"/v1/jobs/{missing}:finalizeCancellation", {"now": True}, key=keys.writer),
          INVALID_ARGUMENT, "now")
    error(server.call("POST", f"/v1/jobs/cancel/{missing}", raw=b"{", key=keys.writer), INVALID_ARGUMENT)
    error(server.call("GET", f"/v1/jobs/{missing}?view=JOB_VIEW_NOPE", key=keys.reader), INVALID_ARGUMENT, "view")
    error(upsert(server, keys.writer, {"jobId": missing, "status": RUNNING}, {"agentId": True}), INVALID_ARGUMENT,
          "agentId")
    error(upsert(server, keys.writer, {"jobId": missing}, {"status": True}), INVALID_ARGUMENT, "status")


def test_an_invalid_request_on_a_terminal_job_is_invalid_argument_not_failed_precondition(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id, before = job_in(ledger, SUCCEEDED)
    error(upsert(server, keys.writer, {"jobId": job_id, "status": CANCELLED}, {"status": True}), INVALID_ARGUMENT,
          "status")
    error(upsert(server, keys.writer, {"jobId": job_id}, {"agentId": True}), INVALID_ARGUMENT, "agentId")
    error(upsert(server, keys.writer, {"jobId": job_id, "jobData": {"fileScan": {"fileScanId": "f"}}},
                 {"jobData": {"fileScan": {"fileScanId": True}}}), INVALID_ARGUMENT, "fileScan")
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_UNSPECIFIED"},
                      key=keys.writer), INVALID_ARGUMENT, "terminationReason")
    error(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "colour": 1},
                      key=keys.writer), INVALID_ARGUMENT, "colour")
    ledger.stored_nothing(job_id, before)


def test_a_state_conflict_on_a_missing_job_is_not_found_not_failed_precondition(
        server: Server, keys: Keys) -> None:
    missing = unique("missing")
    error(server.call("POST", f"/v1/jobs/{missing}:finalizeCancellation", key=keys.writer), NOT_FOUND)
    error(server.call("GET", f"/v1/jobs/{missing}/test-run-id", key=keys.reader), NOT_FOUND)


# --- ABORTED (10) / 409 under concurrent writers, never a 5xx


def test_concurrent_writes_to_one_job_are_accepted_or_aborted_and_never_lose_an_event(
        server: Server, keys: Keys) -> None:
    job_id = unique("contended")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE, "status": PENDING}))

    def write(i: int) -> Reply:
        return upsert(server, keys.writer, {"jobId": job_id, "agentId": {"uuid": f"agent-{i}"}}, {"agentId": True})

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(write, range(60)))
    accepted = [r for r in replies if r.status == 200]
    for reply in replies:
        assert reply.status in (200, 409), (reply.status, reply.body)
        if reply.status == 409:
            error(reply, ABORTED)
    assert accepted, "some concurrent write must win"
    positions = [position(r) for r in accepted]
    assert len(set(positions)) == len(positions), "two accepted writes share a place in the log"
    last = max(accepted, key=position).body["job"]["agentId"]
    now = ok(upsert(server, keys.writer, {"jobId": job_id})).body["job"]
    assert now["agentId"] == last, "the job is not what the last accepted write made it"
    shown = server.eventually(f"/v1/jobs/{job_id}", keys.reader,
                              lambda r: r.status == 200 and r.body["job"].get("agentId") == last)
    assert shown.body["job"]["agentId"] == last


def test_concurrent_identical_transitions_append_exactly_one_event(server: Server, keys: Keys) -> None:
    job_id = unique("race")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE, "status": PENDING}))

    def start(_: int) -> Reply:
        return upsert(server, keys.writer, {"jobId": job_id, "status": RUNNING}, {"status": True})

    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(start, range(10)))
    assert all(r.status in (200, 409) for r in replies), [(r.status, r.body) for r in replies]
    winners = [r for r in replies if "x-jobstore-position" in r.headers]
    assert len(winners) == 1, f"{len(winners)} writes moved the job to RUNNING"
    start_times = {r.body["job"]["startTime"] for r in replies if r.status == 200}
    assert len(start_times) == 1


def test_concurrent_failures_with_different_messages_leave_exactly_one(server: Server, keys: Keys) -> None:
    job_id = unique("fail-race")
    ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE, "status": PENDING}))

    def fail(i: int) -> Reply:
        return server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "errorMsg": f"m{i}"},
                           key=keys.writer)

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(fail, range(8)))
    winners = [r for r in replies if r.status == 200]
    assert len(winners) == 1, [(r.status, r.body) for r in replies]
    for reply in replies:
        if reply.status != 200:
            error(reply, FAILED_PRECONDITION if reply.status == 400 else ABORTED)
    assert ok(upsert(server, keys.writer, {"jobId": job_id})).body["job"]["errorMsg"] == \
        winners[0].body["job"]["errorMsg"]


def test_concurrent_creations_of_one_job_create_it_once(server: Server, keys: Keys) -> None:
    job_id = unique("create-race")

    def create(_: int) -> Reply:
        return upsert(server, keys.writer, {"jobId": job_id, "jobType": IMAGE})

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(create, range(8)))
    assert all(r.status in (200, 409) for r in replies), [(r.status, r.body) for r in replies]
    assert len([r for r in replies if "x-jobstore-position" in r.headers]) == 1
    assert len({r.body["job"]["creationTime"] for r in replies if r.status == 200}) == 1


def test_concurrent_writes_to_many_jobs_all_reach_the_views(server: Server, keys: Keys) -> None:
    project = unique("crowd")
    job_ids = [unique("crowd") for _ in range(60)]

    def create(job_id: str) -> Reply:
        return upsert(server, keys.writer, {"jobId": job_id, "jobType": STRESS,
                                            "jobData": {"stress": {"projectId": {"uuid": project}}}})

    with ThreadPoolExecutor(10) as pool:
        replies = list(pool.map(create, job_ids))
    assert all(r.status == 200 for r in replies), [(r.status, r.body) for r in replies if r.status != 200]
    listed = server.eventually(f"/v1/jobs/project/{project}?pageSize=100", keys.reader,
                               lambda r: r.status == 200 and len(r.body["jobs"]) == 60)
    assert sorted(j["jobId"] for j in listed.body["jobs"]) == sorted(job_ids)


# --- RESOURCE_EXHAUSTED (8) / 429


def test_a_body_over_1_mib_is_resource_exhausted_and_stores_nothing(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id = unique("huge")
    ledger.create({"jobId": unique("anchor"), "jobType": IMAGE})
    body = json.dumps({"job": {"jobId": job_id, "jobType": IMAGE}}).encode()
    padded = body[:-1] + b" " * (MIB + 1 - len(body)) + b"}"
    assert len(padded) == MIB + 1
    error(server.call("POST", "/v1/jobs:upsert", raw=padded, key=keys.writer), RESOURCE_EXHAUSTED)
    error(server.call("POST", "/v1/jobs:upsert", raw=b'{"job": {"jobId": "' + b"x" * (2 * MIB) + b'"}}',
                      key=keys.writer), RESOURCE_EXHAUSTED)
    ledger.stored_nothing(job_id, None)


def test_a_body_of_exactly_1_mib_is_not_resource_exhausted(server: Server, keys: Keys) -> None:
    job_id = unique("mib")
    body = json.dumps({"job": {"jobId": job_id, "jobType": IMAGE}}).encode()
    padded = body[:-1] + b" " * (MIB - len(body)) + b"}"
    assert len(padded) == MIB
    assert ok(server.call("POST", "/v1/jobs:upsert", raw=padded, key=keys.writer)).body["job"]["jobId"] == job_id


def test_a_chunked_body_over_1_mib_is_resource_exhausted(server: Server, keys: Keys) -> None:
    job_id = unique("chunked")
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        chunks = [b'{"job": {"jobId": "' + job_id.encode() + b'", "jobType": "JOB_TYPE_IMAGE_BUILDER"}'] + \
                 [b" " * 65536] * 17 + [b"}"]
        connection.request("POST", "/v1/jobs:upsert", body=iter(chunks), encode_chunked=True,
                           headers={"rime-api-key": keys.writer, "content-type": "application/json",
                                    "transfer-encoding": "chunked"})
        response = connection.getresponse()
        reply = Reply(response.status, json.loads(response.read() or b"{}"),
                      {k.lower(): v for k, v in response.getheaders()})
    finally:
        connection.close()
    error(reply, RESOURCE_EXHAUSTED)
    assert upsert(server, keys.writer, {"jobId": job_id}).status == 400, "the job was created"


# --- no stack traces; pathological bodies


@pytest.mark.parametrize("raw", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"job": {"jobId": "deep", "jobData": {"stress": {"progress": {"testRun": {"testBatches": ' + b"[" * 5000 +
    b"]" * 5000 + b"}}}}}}",
    b'{"job": {"jobId": "deep", "jobType": "JOB_TYPE_IMAGE_BUILDER", "agentId": ' + b'{"uuid": ' * 900 + b'"x"' +
    b"}" * 900 + b"}}",
    b'{"job": {"jobId": "deep", "jobType": "JOB_TYPE_IMAGE_BUILDER"}, "writeMask": ' + b"[" * 990 + b"]" * 990 +
    b"}",
    b'{"job": {"jobId": "n", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": ' + b"9" * 5000 + b"}}",
    b'{"job": {"jobId": "n\\ud800", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}',
    b'{"job": {"jobId": "nul\\u0000", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}',
    b'{"job": {"jobId": "dup", "jobId": ["x"], "jobType": "JOB_TYPE_IMAGE_BUILDER"}}',
], ids=["deep-arrays", "deep-objects", "deep-in-a-known-field", "deep-objects-900", "deep-mask-990",
        "5000-digit-number", "lone-surrogate", "nul-in-id", "duplicate-key"])
def test_a_pathological_body_gets_a_4xx_without_a_stack_trace_and_the_server_stays_alive(
        server: Server, keys: Keys, raw: bytes) -> None:
    reply = server.call("POST", "/v1/jobs:upsert", raw=raw, key=keys.writer)
    assert 400 <= reply.status < 500, (reply.status, str(reply.body)[:500])
    error(reply, (reply.body["code"], reply.status))
    assert server.call("GET", "/healthz").status == 200
    assert server.call("GET", "/v1/jobs?pageSize=1", key=keys.reader).status == 200


def test_no_error_response_carries_a_stack_trace_or_internal_names(server: Server, keys: Keys) -> None:
    replies = [
        server.call("POST", "/v1/jobs:upsert", raw=b'{"job": {"jobId": [1, {"a": null}]}}', key=keys.writer),
        server.call("POST", "/v1/jobs:upsert", raw=b'{"job": {"jobId": "x", "jobData": 7}}', key=keys.writer),
        server.call("GET", "/v1/jobs/project/p?pageToken=" + "A" * 3000 + "." + "B" * 24, key=keys.reader),
        server.call("GET", "/v1/jobs/project/p?pageToken=%00%01.%02", key=keys.reader),
        server.call("GET", "/v1/jobs?pageSize=1e3", key=keys.reader),
        server.call("PUT", "/v1/jobs:upsert", {}, key=keys.writer),
        server.call("DELETE", "/v1/jobs/x", key=keys.writer),
    ]
    for reply in replies:
        assert 400 <= reply.status < 500, (reply.status, reply.body)
        body = error(reply, (reply.body["code"], reply.status))
        assert "pydantic" not in body["message"].lower() and "errors.pydantic.dev" not in body["message"]


def test_a_progress_report_with_more_than_10000_test_batches_or_runs_is_invalid_argument_naming_the_field(
        server: Server, keys: Keys, ledger: Ledger) -> None:
    job_id = unique("many")
    ledger.create({"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST"})
    batches = [{"type": f"b{i}", "status": "TEST_TASK_STATUS_PENDING"} for i in range(10_001)]
    reply = server.call("POST", "/v1/jobs:upsert", {
        "job": {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {"testBatches": batches}}}}},
        "writeMask": {"jobData": {"stress": {"progress": True}}}}, key=keys.writer)
    error(reply, INVALID_ARGUMENT)
    assert "testBatches" in reply.body["message"]
    runs = [{"testRun": {"testRunId": f"r{i}"}} for i in range(10_001)]
    reply = server.call("POST", "/v1/jobs:upsert", {"job": {
        "jobId": unique("many-runs"), "jobType": "JOB_TYPE_FIREWALL_BATCH_TEST",
        "jobData": {"continuousInc": {"progress": {"testRuns": runs}}}}}, key=keys.writer)
    error(reply, INVALID_ARGUMENT)
    assert "testRuns" in reply.body["message"]
    exactly = [{"type": f"b{i}", "status": "TEST_TASK_STATUS_PENDING"} for i in range(10_000)]
    ok(server.call("POST", "/v1/jobs:upsert", {
        "job": {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {"testBatches": exactly}}}}},
        "writeMask": {"jobData": {"stress": {"progress": True}}}}, key=keys.writer))


def test_a_page_token_with_non_ascii_characters_is_invalid_argument_not_a_crash(server: Server, keys: Keys) -> None:
    error(server.call("GET", "/v1/jobs?pageToken=%C3%A9t%C3%A9.%E2%9C%93", key=keys.reader), INVALID_ARGUMENT)
