"""Requests are read strictly: a body is strict JSON (UTF-8, no NaN or Infinity, no key twice in one object),
booleans are JSON booleans, times are RFC 3339 strings with an offset or Z that stay within the calendar in UTC,
a link to archived logs is an absolute https URL, and a test batch (and a continuous test's test run) is reported
once. Anything else is INVALID_ARGUMENT naming the field (or the body, for what is wrong with the JSON itself),
and nothing is stored."""
from __future__ import annotations

import json
from typing import Any

import pytest

from jobstore.adapters.core.queries import parse_rfc3339
from jobstore.domain.application import Jobs
from jobstore.domain.errors import InvalidArgument, JobNotFound
from jobstore.domain.job import Provenance
from jobstore.domain.requests import FailJobRequest, UpsertJobRequest, decode_body, parse_request
from tests.conftest import unique

BY = Provenance("strict-tests", "writer", "req-strict")
STRESS, CONTINUOUS, IMAGE = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST", "JOB_TYPE_IMAGE_BUILDER"
EXTREME_OFFSETS = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999-00:01"]


def parse(raw: bytes) -> UpsertJobRequest:
    """An UpsertJob body as the HTTP route reads it: decoded, then validated."""
    return parse_request(UpsertJobRequest, decode_body(raw))


def version(jobs: Jobs, job_id: str) -> int | None:
    try:
        return int(jobs.job(job_id).version)
    except JobNotFound:
        return None


def refused(jobs: Jobs, body: dict[str, Any] | bytes, field: str, *named: str) -> str:
    """`body` is INVALID_ARGUMENT naming `field` (and each of `named` in its message), and stores nothing: its
    job (as a lenient reader would have taken it) is as it was, or still absent."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        job_id = json.loads(raw)["job"]["jobId"]
    except (ValueError, KeyError, TypeError):
        job_id = None
    before = version(jobs, job_id) if isinstance(job_id, str) else None
    with pytest.raises(InvalidArgument) as refusal:
        jobs.upsert(parse(raw), BY)
    assert refusal.value.field == field, refusal.value.message
    for name in named:
        assert name in refusal.value.message, (name, refusal.value.message)
    if isinstance(job_id, str):
        assert version(jobs, job_id) == before
    return refusal.value.message


def created(jobs: Jobs, job: dict[str, Any]) -> dict[str, Any]:
    outcome = jobs.upsert(parse(json.dumps({"job": job}).encode()), BY)
    return dict(outcome.document)


# --- the JSON itself


@pytest.mark.parametrize(("raw", "key"), [
    (b'{"job": {"jobId": "dup-a", "jobId": "dup-b", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}', "jobId"),
    (b'{"job": {"jobId": "dup-c", "jobType": "JOB_TYPE_IMAGE_BUILDER"}, "job": {"jobId": "dup-d"}}', "job"),
    (b'{"job": {"jobId": "dup-e", "jobType": "JOB_TYPE_IMAGE_BUILDER", "agentId": {"uuid": "a", "uuid": "b"}}}',
     "uuid"),
    (b'{"job": {"jobId": "dup-f", "status": "JOB_STATUS_PENDING"}, '
     b'"writeMask": {"status": true, "status": false}}', "status"),
    (b'{"job": {"jobId": "dup-g", "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "jobData": {"stress": {"progress": '
     b'{"testRun": {"testBatches": [{"type": "a"}, {"type": "b", "type": "c"}]}}}}}}', "type"),
], ids=["top-of-job", "top-level", "rimeUUID", "writeMask", "inside-a-list"])
def test_a_key_named_twice_in_one_object_at_any_depth_is_invalid_argument_naming_the_key(
        jobs: Jobs, raw: bytes, key: str) -> None:
    refused(jobs, raw, "body", f'"{key}"', "twice")
    for job_id in ("dup-a", "dup-b", "dup-c", "dup-d", "dup-e", "dup-f", "dup-g"):
        assert version(jobs, job_id) is None


def test_the_same_key_in_different_objects_is_not_a_duplicate(jobs: Jobs) -> None:
    job_id = unique("same-key")
    stored = created(jobs, {"jobId": job_id, "jobType": STRESS, "jobData": {"stress": {
        "projectId": {"uuid": "p"}, "testRunId": "r",
        "progress": {"testRun": {"testRunId": "r", "testBatches": [{"type": "a"}, {"type": "b"}]}}}}})
    assert stored["jobData"]["stress"]["progress"]["testRun"]["testBatches"] == [{"type": "a"}, {"type": "b"}]


def test_a_duplicate_key_is_refused_in_a_fail_job_body_too() -> None:
    with pytest.raises(InvalidArgument, match='"terminationReason"'):
        parse_request(FailJobRequest, decode_body(b'{"terminationReason": "TERMINATION_REASON_OOMKILLED", '
                                                  b'"terminationReason": "TERMINATION_REASON_GENERIC_ERROR"}'))


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf"])
def test_nan_and_infinity_are_not_json_and_are_invalid_argument(number: bytes) -> None:
    raw = b'{"job": {"jobId": "nan", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": ' + number + b"}}"
    with pytest.raises(InvalidArgument) as refusal:
        parse(raw)
    assert refusal.value.field == "body"


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1" + b"0" * 400 + b".0"])
def test_a_number_too_large_for_a_float_is_invalid_argument_naming_the_field(number: bytes) -> None:
    raw = b'{"job": {"jobId": "big", "jobType": "JOB_TYPE_IMAGE_BUILDER", "runningTimeSecs": ' + number + b"}}"
    with pytest.raises(InvalidArgument) as refusal:
        parse(raw)
    assert refusal.value.field == "job.runningTimeSecs", refusal.value.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "cp1252"])
def test_a_body_that_is_not_utf8_is_invalid_argument(jobs: Jobs, encoding: str) -> None:
    job_id = unique("encoded-é")
    raw = json.dumps({"job": {"jobId": job_id, "jobType": IMAGE}}, ensure_ascii=False).encode(encoding)
    message = refused(jobs, raw, "body", "UTF-8")
    assert version(jobs, job_id) is None, message


def test_a_utf8_body_with_text_beyond_ascii_is_accepted_as_sent(jobs: Jobs) -> None:
    job_id = unique("été-✓")
    raw = json.dumps({"job": {"jobId": job_id, "jobType": IMAGE}}, ensure_ascii=False).encode()
    assert jobs.upsert(parse(raw), BY).document["jobId"] == job_id


# --- booleans

MASK_BITS = ["status", "termReason", "agentId", "archivedJobLogs", "jobData.stress.projectId",
             "jobData.stress.testRunId", "jobData.stress.progress", "jobData.continuousInc.firewallId",
             "jobData.continuousInc.ctTestRunIds", "jobData.continuousInc.progress", "jobData.fileScan.projectId",
             "jobData.fileScan.fileScanId"]


def nested(path: str, value: Any) -> dict[str, Any]:
    *outer, last = path.split(".")
    tree: dict[str, Any] = {last: value}
    for name in reversed(outer):
        tree = {name: tree}
    return tree


@pytest.mark.parametrize("value", ["yes", 1, "off", 0.0, 0, "true", "false", [], {}])
@pytest.mark.parametrize("bit", MASK_BITS)
def test_a_mask_bit_that_is_not_a_json_boolean_is_invalid_argument_naming_it(bit: str, value: Any) -> None:
    body = {"job": {"jobId": "bits"}, "writeMask": nested(bit, value)}
    with pytest.raises(InvalidArgument) as refusal:
        parse(json.dumps(body).encode())
    assert refusal.value.field == f"writeMask.{bit}", refusal.value.message


def test_a_yes_mask_bit_does_not_write_the_status(jobs: Jobs) -> None:
    job_id = unique("yes")
    created(jobs, {"jobId": job_id, "jobType": IMAGE})
    refused(jobs, {"job": {"jobId": job_id, "status": "JOB_STATUS_PENDING"}, "writeMask": {"status": "yes"}},
            "writeMask.status")
    assert jobs.job(job_id).document["status"] == "JOB_STATUS_REQUESTED"


@pytest.mark.parametrize("value", [1, "true", "yes", 0])
def test_cancellation_requested_sent_as_anything_but_a_boolean_is_invalid_argument(value: Any) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse(json.dumps({"job": {"jobId": "c", "cancellationRequested": value}}).encode())
    assert refusal.value.field == "job.cancellationRequested"


@pytest.mark.parametrize("value", ["42", True, "4.2e1"])
def test_running_time_secs_sent_as_anything_but_a_number_is_invalid_argument(value: Any) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse(json.dumps({"job": {"jobId": "r", "runningTimeSecs": value}}).encode())
    assert refusal.value.field == "job.runningTimeSecs"


# --- times

TIME_FIELDS = {
    "job.archivedJobLogs.expirationTime": lambda t: {"archivedJobLogs": {"expirationTime": t}},
    "job.creationTime": lambda t: {"creationTime": t},
    "job.startTime": lambda t: {"startTime": t},
    "job.completionTime": lambda t: {"completionTime": t},
    "job.jobData.continuousInc.progress.testRuns.0.binStartTime": lambda t: {"jobData": {"continuousInc": {
        "progress": {"testRuns": [{"binStartTime": t}]}}}},
    "job.jobData.continuousInc.progress.testRuns.0.binEndTime": lambda t: {"jobData": {"continuousInc": {
        "progress": {"testRuns": [{"binEndTime": t}]}}}},
}
NOT_RFC3339 = [1700000000, 1700000000.5, 0, True, "1700000000", "2026-11-27", "2026-11-27T18:10:05",
               "2026-11-27T18:10:05+0100", "2026-11-27T18:10:05+01", "2026-11-27T18:10Z",
               "Fri, 27 Nov 2026 18:10:05 GMT",
               "2026-11-27T18:10:05.1234567890Z", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
               "2026-11-27T24:00:00Z", "2026-11-27T18:10:05Z\n", " 2026-11-27T18:10:05Z", "２０２６-11-27T18:10:05Z",
               "2026-W48-5T18:10:05Z", "20261127T181005Z", {"seconds": 1}]


@pytest.mark.parametrize("value", NOT_RFC3339)
@pytest.mark.parametrize("field", TIME_FIELDS)
def test_a_time_that_is_not_an_rfc3339_string_is_invalid_argument_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse(json.dumps({"job": {"jobId": "t", **TIME_FIELDS[field](value)}}).encode())
    assert refusal.value.field == field, refusal.value.message
    assert "RFC 3339" in refusal.value.message


@pytest.mark.parametrize("value", EXTREME_OFFSETS)
@pytest.mark.parametrize("field", TIME_FIELDS)
def test_a_time_that_leaves_the_calendar_in_utc_is_invalid_argument_naming_the_field(field: str, value: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse(json.dumps({"job": {"jobId": "t", **TIME_FIELDS[field](value)}}).encode())
    assert refusal.value.field == field
    assert "out of range" in refusal.value.message


@pytest.mark.parametrize(("sent", "stored"), [
    ("2026-11-27T18:10:05Z", "2026-11-27T18:10:05Z"),
    ("2026-11-27t18:10:05z", "2026-11-27T18:10:05Z"),
    ("2026-11-27 18:10:05+01:00", "2026-11-27T17:10:05Z"),
    ("2026-11-27T18:10:05.5-00:30", "2026-11-27T18:40:05.500000Z"),
    ("2026-11-27T18:10:05.123456789Z", "2026-11-27T18:10:05.123456Z"),
    ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59Z"),
    ("0001-01-01T00:00:00-23:59", "0001-01-01T23:59:00Z"),
])
def test_an_rfc3339_time_with_an_offset_is_stored_in_utc(jobs: Jobs, sent: str, stored: str) -> None:
    document = created(jobs, {"jobId": unique("time"), "jobType": IMAGE,
                              "archivedJobLogs": {"url": {"url": "https://logs.example/a"}, "expirationTime": sent}})
    assert document["archivedJobLogs"]["expirationTime"] == stored


@pytest.mark.parametrize("value", EXTREME_OFFSETS)
def test_an_as_of_time_that_leaves_the_calendar_in_utc_is_invalid_argument_naming_as_of(value: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_rfc3339("asOf", value)
    assert refusal.value.field == "asOf" and "out of range" in refusal.value.message


@pytest.mark.parametrize("value", [v for v in NOT_RFC3339 if isinstance(v, str)])
def test_an_as_of_time_that_is_not_rfc3339_is_invalid_argument_naming_as_of(value: str) -> None:
    with pytest.raises(InvalidArgument) as refusal:
        parse_rfc3339("asOf", value)
    assert refusal.value.field == "asOf"


# --- links to archived logs


@pytest.mark.parametrize("url", [
    "javascript:alert(document.cookie)", "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>",
    "http://logs.example/job.tgz", "ftp://logs.example/job.tgz", "file:///etc/passwd", "//logs.example/job.tgz",
    "logs.example/job.tgz", "/job.tgz", "", "https:", "https://", "https:///job.tgz", "https://:443/job.tgz",
    "https://logs.example:99999/job.tgz", "https://logs.example:port/job.tgz", "https://[not-an-ip]/job.tgz",
    "https://logs example/job.tgz", "https://logs.example/job.tgz\n", "https://logs.example/\tjob.tgz",
    " https://logs.example/job.tgz",
])
def test_an_archived_logs_url_that_is_not_an_absolute_https_url_is_invalid_argument_naming_the_field(
        jobs: Jobs, url: str) -> None:
    job_id = unique("url")
    refused(jobs, {"job": {"jobId": job_id, "jobType": IMAGE, "archivedJobLogs": {"url": {"url": url}}}},
            "job.archivedJobLogs.url.url", "https")
    assert version(jobs, job_id) is None


def test_a_nul_character_anywhere_in_a_url_is_invalid_argument_naming_the_field(jobs: Jobs) -> None:
    job_id = unique("url")
    refused(jobs, {"job": {"jobId": job_id, "jobType": IMAGE, "archivedJobLogs": {"url": {
        "url": "https://logs.example/\x00"}}}}, "job.archivedJobLogs.url.url", "NUL character (U+0000)")
    assert version(jobs, job_id) is None


@pytest.mark.parametrize("url", ["https://logs.example/job.tgz", "HTTPS://logs.example/a?b=1&c=%20#d",
                                 "https://logs.example:8443/a", "https://user@logs.example/a", "https://[::1]/a",
                                 "https://bücher.example/ä"])
def test_an_absolute_https_url_is_accepted_as_sent(jobs: Jobs, url: str) -> None:
    document = created(jobs, {"jobId": unique("url"), "jobType": IMAGE, "archivedJobLogs": {"url": {"url": url}}})
    assert document["archivedJobLogs"]["url"] == {"url": url}


# --- test batches and test runs, each reported once


def stress_progress(*batches: str | None, run: str | None = "run-1") -> dict[str, Any]:
    test_run: dict[str, Any] = {"testBatches": [{"type": b, "status": "TEST_TASK_STATUS_COMPLETED"} if b is not None
                                                else {"status": "TEST_TASK_STATUS_COMPLETED"} for b in batches]}
    if run is not None:
        test_run["testRunId"] = run
    return {"testRun": test_run}


def test_a_stress_test_batch_reported_twice_is_invalid_argument_naming_the_field_and_the_batch(jobs: Jobs) -> None:
    job_id = unique("dup-batch")
    created(jobs, {"jobId": job_id, "jobType": STRESS})
    message = refused(jobs, {"job": {"jobId": job_id, "jobData": {"stress": {"progress": stress_progress(
        "drift", "bias", "drift")}}}, "writeMask": {"jobData": {"stress": {"progress": True}}}},
        "job.jobData.stress.progress.testRun.testBatches", "'run-1'", "'drift'", "0 and 2")
    assert "bias" not in message


def test_ten_thousand_copies_of_one_batch_are_refused_when_creating_a_job(jobs: Jobs) -> None:
    job_id = unique("copies")
    refused(jobs, {"job": {"jobId": job_id, "jobType": STRESS, "jobData": {"stress": {
        "progress": stress_progress(*["drift"] * 10_000)}}}}, "job.jobData.stress.progress.testRun.testBatches")
    assert version(jobs, job_id) is None


def test_two_batches_without_a_type_in_one_run_are_the_same_batch(jobs: Jobs) -> None:
    refused(jobs, {"job": {"jobId": unique("untyped"), "jobType": STRESS, "jobData": {"stress": {
        "progress": stress_progress(None, None, run=None)}}}}, "job.jobData.stress.progress.testRun.testBatches",
        "None")


def test_a_batch_reported_twice_in_one_continuous_test_run_is_invalid_argument(jobs: Jobs) -> None:
    runs = [{"testRun": stress_progress("a", run="ct-1")["testRun"]},
            {"testRun": stress_progress("a", "b", "a", run="ct-2")["testRun"]}]
    refused(jobs, {"job": {"jobId": unique("ct-dup"), "jobType": CONTINUOUS, "jobData": {"continuousInc": {
        "ctTestRunIds": ["ct-1", "ct-2"], "progress": {"testRuns": runs}}}}},
        "job.jobData.continuousInc.progress.testRuns.1.testRun.testBatches", "'ct-2'", "'a'")


def test_a_continuous_test_run_reported_twice_is_invalid_argument_naming_the_run(jobs: Jobs) -> None:
    runs = [{"testRun": stress_progress("a", run="ct-1")["testRun"]}, {"binStartTime": "2026-01-01T00:00:00Z"},
            {"testRun": stress_progress("a", run="ct-1")["testRun"]}]
    refused(jobs, {"job": {"jobId": unique("ct-dup-run"), "jobType": CONTINUOUS, "jobData": {"continuousInc": {
        "ctTestRunIds": ["ct-1"], "progress": {"testRuns": runs}}}}},
        "job.jobData.continuousInc.progress.testRuns", "'ct-1'", "0 and 2")


def test_batches_of_one_type_in_different_runs_and_bins_without_a_run_are_accepted(jobs: Jobs) -> None:
    runs = [{"testRun": stress_progress("a", "b", run="ct-1")["testRun"]},
            {"testRun": stress_progress("a", "b", run="ct-2")["testRun"]},
            {"binStartTime": "2026-01-01T00:00:00Z"}, {"binStartTime": "2026-01-01T01:00:00Z"},
            {"testRun": {"status": "TEST_TASK_STATUS_PENDING"}}, {"testRun": {"status": "TEST_TASK_STATUS_PENDING"}}]
    document = created(jobs, {"jobId": unique("ct-ok"), "jobType": CONTINUOUS, "jobData": {"continuousInc": {
        "ctTestRunIds": ["ct-1", "ct-2"], "progress": {"testRuns": runs}}}})
    assert len(document["jobData"]["continuousInc"]["progress"]["testRuns"]) == 6


def test_ten_thousand_distinct_batches_are_accepted(jobs: Jobs) -> None:
    document = created(jobs, {"jobId": unique("many"), "jobType": STRESS, "jobData": {"stress": {
        "progress": stress_progress(*[f"b{i}" for i in range(10_000)])}}})
    assert len(document["jobData"]["stress"]["progress"]["testRun"]["testBatches"]) == 10_000


# --- the same request, for idempotency


@pytest.mark.parametrize("refused_body", [
    b'{"job": {"jobId": "dup-a", "jobId": "dup-b", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}',
    '{"job": {"jobId": "dup-b", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}'.encode("utf-16"),
], ids=["duplicate-key", "utf-16"])
def test_a_body_refused_as_json_is_not_the_same_request_as_a_lenient_reading_of_it(refused_body: bytes) -> None:
    """A retry under the same idempotency key with the body corrected is another request, not a replay."""
    from jobstore.adapters.core.commands import _fingerprint

    corrected = b'{"job": {"jobId": "dup-b", "jobType": "JOB_TYPE_IMAGE_BUILDER"}}'
    assert _fingerprint("POST /v1/jobs:upsert", refused_body) != _fingerprint("POST /v1/jobs:upsert", corrected)
    assert _fingerprint("POST /v1/jobs:upsert", corrected) == \
        _fingerprint("POST /v1/jobs:upsert", b'{"job": {"jobType": "JOB_TYPE_IMAGE_BUILDER", "jobId": "dup-b"}}')


@pytest.mark.parametrize(("body", "field", "sent"), [
    ({"job": {"jobId": "e", "jobType": "JOB_TYPE_NOPE"}}, "job.jobType", "'JOB_TYPE_NOPE'"),
    ({"job": {"jobId": "e", "status": 7}}, "job.status", "7"),
    ({"job": {"jobId": "e", "jobType": STRESS, "jobData": {"stress": {"progress": {"testRun": {"status": "DONE"}}}}}},
     "job.jobData.stress.progress.testRun.status", "'DONE'"),
])
def test_an_unknown_enum_value_is_named_with_the_values_it_may_take(body: dict[str, Any], field: str,
                                                                   sent: str) -> None:
    """As an unknown `view` or list filter is: what was sent, then every name the field takes."""
    with pytest.raises(InvalidArgument) as refused:
        parse_request(UpsertJobRequest, body)
    assert refused.value.field == field
    assert refused.value.message.startswith(f"{field}: {sent} is not one of ")
    names = refused.value.message.split(" is not one of ")[1].split(", ")
    assert len(names) > 2 and all(name.isupper() and "'" not in name for name in names)
