"""UpsertJob's write-mask rules (api-contract.md, "UpsertJob"), through the application service in memory."""
from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from jobstore.domain.application import Jobs
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobNotFound
from jobstore.domain.job import Provenance
from tests.conftest import unique, upsert_request

WHO = Provenance(actor="mask-tests", role="writer", request_id="req-masks")

STRESS, CONTINUOUS, FILE_SCAN, IMAGE = ("JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_FIREWALL_BATCH_TEST",
                                        "JOB_TYPE_FILE_SCAN", "JOB_TYPE_IMAGE_BUILDER")
DATA_KEY = {STRESS: "stress", CONTINUOUS: "continuousInc", FILE_SCAN: "fileScan", IMAGE: None}
KINDS = ("stress", "continuousInc", "fileScan")


def stress_progress(run: str, done: int) -> dict[str, Any]:
    return {"testRun": {"testRunId": run, "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
        {"type": f"batch-{i}", "status": "TEST_TASK_STATUS_COMPLETED" if i < done else "TEST_TASK_STATUS_PENDING"}
        for i in range(3)]}}


def continuous_progress(run: str) -> dict[str, Any]:
    return {"testRuns": [{"testRun": {"testRunId": run, "status": "TEST_TASK_STATUS_COMPLETED"},
                          "binStartTime": "2026-01-01T00:00:00Z", "binEndTime": "2026-01-01T01:00:00Z"}]}


# A full payload per jobData kind, in an "old" and a "new" version that differ in every field.
OLD_DATA = {
    "stress": {"projectId": {"uuid": "project-old"}, "testRunId": "run-old", "progress": stress_progress("run-old", 1)},
    "continuousInc": {"firewallId": "fw-old", "ctTestRunIds": ["ct-1", "ct-2"],
                      "progress": continuous_progress("ct-1")},
    "fileScan": {"projectId": {"uuid": "project-old"}, "fileScanId": "scan-old"},
}
NEW_DATA = {
    "stress": {"projectId": {"uuid": "project-new"}, "testRunId": "run-new", "progress": stress_progress("run-new", 2)},
    "continuousInc": {"firewallId": "fw-new", "ctTestRunIds": ["ct-3"], "progress": continuous_progress("ct-3")},
    "fileScan": {"projectId": {"uuid": "project-new"}, "fileScanId": "scan-new"},
}
OLD_TOP = {"agentId": {"uuid": "agent-old"}, "terminationReason": "TERMINATION_REASON_OOMKILLED",
           "archivedJobLogs": {"url": {"url": "https://logs.example/old"}, "expirationTime": "2027-01-01T00:00:00Z"}}
NEW_TOP = {"agentId": {"uuid": "agent-new"}, "terminationReason": "TERMINATION_REASON_GENERIC_ERROR",
           "archivedJobLogs": {"url": {"url": "https://logs.example/new"}, "expirationTime": "2028-01-01T00:00:00Z"}}
TYPE_OF_KIND = {"stress": STRESS, "continuousInc": CONTINUOUS, "fileScan": FILE_SCAN}

# Every mask bit: (name, mask, job type, path of the field it writes in the job document).
TOP_BITS = [("status", {"status": True}, ("status",)),
            ("termReason", {"termReason": True}, ("terminationReason",)),
            ("agentId", {"agentId": True}, ("agentId",)),
            ("archivedJobLogs", {"archivedJobLogs": True}, ("archivedJobLogs",))]
DATA_BITS = [(kind, field) for kind in KINDS for field in OLD_DATA[kind]]
MASK_BITS = [pytest.param(STRESS, mask, path, id=name) for name, mask, path in TOP_BITS] + [
    pytest.param(TYPE_OF_KIND[kind], {"jobData": {kind: {field: True}}}, ("jobData", kind, field),
                 id=f"jobData.{kind}.{field}") for kind, field in DATA_BITS]


def upsert(jobs: Jobs, job: dict[str, Any], bits: dict[str, Any] | None = None) -> Any:
    return jobs.upsert(upsert_request(job, bits), WHO)


def full_job(job_id: str, job_type: str, data: dict[str, Any] = OLD_DATA, top: dict[str, Any] = OLD_TOP,
             status: str | None = None) -> dict[str, Any]:
    """A job carrying every writable field of its type."""
    job: dict[str, Any] = {"jobId": job_id, "jobType": job_type, **copy.deepcopy(top)}
    kind = DATA_KEY[job_type]
    if kind:
        job["jobData"] = {kind: copy.deepcopy(data[kind])}
    if status:
        job["status"] = status
    return job


def document(jobs: Jobs, job_id: str) -> dict[str, Any]:
    return copy.deepcopy(jobs.job(job_id).document)


def version(jobs: Jobs, job_id: str) -> int:
    return int(jobs.job(job_id).version)


def at(doc: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def without(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    inner = doc
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return doc


def assert_refused_and_nothing_stored(jobs: Jobs, job_id: str,
                                      error: type[Exception] | tuple[type[Exception], ...],
                                      job: dict[str, Any], bits: dict[str, Any] | None = None) -> None:
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    with pytest.raises(error):
        upsert(jobs, job, bits)
    assert version(jobs, job_id) == version_before
    assert document(jobs, job_id) == before


def assert_not_created(jobs: Jobs, job: dict[str, Any], error: type[Exception],
                       bits: dict[str, Any] | None = None) -> None:
    with pytest.raises(error):
        upsert(jobs, job, bits)
    if isinstance(job.get("jobId"), str) and job["jobId"]:
        with pytest.raises(JobNotFound):
            jobs.job(job["jobId"])


# --- creation


@pytest.mark.parametrize("job_type", [STRESS, CONTINUOUS, FILE_SCAN, IMAGE])
def test_a_new_job_is_created_from_every_field_present_without_any_mask(jobs: Jobs, job_type: str) -> None:
    job_id = unique("create")
    sent = full_job(job_id, job_type, status="JOB_STATUS_PENDING")
    outcome = upsert(jobs, sent)
    stored = document(jobs, job_id)
    for field in ("jobId", "jobType", "status", "agentId", "terminationReason", "archivedJobLogs"):
        assert stored[field] == sent[field], field
    assert stored.get("jobData") == sent.get("jobData")
    assert outcome.document == stored
    assert version(jobs, job_id) == 1


def test_creating_a_job_with_every_mask_bit_false_still_writes_every_field_present(jobs: Jobs) -> None:
    job_id = unique("create")
    sent = full_job(job_id, STRESS)
    upsert(jobs, sent, {"status": False, "agentId": False, "jobData": {"stress": {"progress": False}}})
    stored = document(jobs, job_id)
    assert stored["agentId"] == sent["agentId"] and stored["jobData"] == sent["jobData"]


@pytest.mark.parametrize("job_type", [None, "JOB_TYPE_UNSPECIFIED"], ids=["missing", "UNSPECIFIED"])
def test_creating_a_job_without_a_job_type_is_invalid_argument(jobs: Jobs, job_type: str | None) -> None:
    job: dict[str, Any] = {"jobId": unique("create"), "agentId": {"uuid": "agent"}}
    if job_type:
        job["jobType"] = job_type
    assert_not_created(jobs, job, InvalidArgument)


@pytest.mark.parametrize(("job_type", "kind"), [
    pytest.param(job_type, kind, id=f"{job_type.removeprefix('JOB_TYPE_')}-with-{kind}")
    for job_type in (STRESS, CONTINUOUS, FILE_SCAN, IMAGE) for kind in KINDS if kind != DATA_KEY[job_type]])
def test_creating_a_job_with_the_job_data_of_another_type_is_invalid_argument(
        jobs: Jobs, job_type: str, kind: str) -> None:
    job = {"jobId": unique("create"), "jobType": job_type, "jobData": {kind: copy.deepcopy(OLD_DATA[kind])}}
    assert_not_created(jobs, job, InvalidArgument)


@pytest.mark.parametrize("job_type", [STRESS, CONTINUOUS, FILE_SCAN])
def test_creating_a_job_with_its_own_job_data_and_another_key_beside_it_is_invalid_argument(
        jobs: Jobs, job_type: str) -> None:
    other = next(kind for kind in KINDS if kind != DATA_KEY[job_type])
    job = full_job(unique("create"), job_type)
    job["jobData"][other] = copy.deepcopy(OLD_DATA[other])
    assert_not_created(jobs, job, InvalidArgument)


@pytest.mark.parametrize("job_type", [STRESS, CONTINUOUS, FILE_SCAN])
def test_creating_a_job_whose_job_data_lacks_the_key_of_its_type_is_invalid_argument(
        jobs: Jobs, job_type: str) -> None:
    # "jobData, when present, must carry the key that matches jobType and no other."
    assert_not_created(jobs, {"jobId": unique("create"), "jobType": job_type, "jobData": {}}, InvalidArgument)


def test_an_image_builder_job_is_created_without_any_job_data(jobs: Jobs) -> None:
    job_id = unique("image")
    upsert(jobs, {"jobId": job_id, "jobType": IMAGE})
    stored = document(jobs, job_id)
    assert stored["jobType"] == IMAGE and stored["status"] == "JOB_STATUS_REQUESTED"
    assert not stored.get("jobData")


@pytest.mark.parametrize("job_id", [
    pytest.param("", id="empty"),
    pytest.param("x" * 129, id="129-chars"),
    pytest.param("a/b", id="slash"),
    pytest.param("/", id="only-slash"),
    pytest.param("a b", id="space"),
    pytest.param(" lead", id="leading-space"),
    pytest.param("tab\there", id="tab"),
    pytest.param("new\nline", id="newline"),
    pytest.param("cr\rhere", id="carriage-return"),
    pytest.param("nbsp\u00a0here", id="no-break-space"),
    pytest.param("em\u2003space", id="em-space"),
    pytest.param("nul\x00here", id="nul"),
    pytest.param("esc\x1bhere", id="escape"),
    pytest.param("del\x7fhere", id="delete"),
    pytest.param("c1\x85here", id="c1-control"),
])
def test_a_job_id_that_breaks_the_rules_is_invalid_argument(jobs: Jobs, job_id: str) -> None:
    assert_not_created(jobs, {"jobId": job_id, "jobType": IMAGE}, InvalidArgument)


def test_an_upsert_without_a_job_id_is_invalid_argument(jobs: Jobs) -> None:
    with pytest.raises(InvalidArgument):
        upsert(jobs, {"jobType": IMAGE})


@pytest.mark.parametrize("job_id", [
    pytest.param("x", id="1-char"),
    pytest.param("y" * 128, id="128-chars"),
    pytest.param("job.with-dots_and:colons@1", id="punctuation"),
    pytest.param("job-é-ü-测试", id="unicode-letters"),
])
def test_a_job_id_within_the_rules_is_accepted_and_kept_as_sent(jobs: Jobs, job_id: str) -> None:
    upsert(jobs, {"jobId": job_id, "jobType": IMAGE})
    assert document(jobs, job_id)["jobId"] == job_id


# --- existing jobs: only masked fields are written


def test_an_upsert_with_no_mask_bit_on_an_existing_job_writes_nothing(jobs: Jobs) -> None:
    job_id = unique("nomask")
    upsert(jobs, full_job(job_id, STRESS))
    before = document(jobs, job_id)
    outcome = upsert(jobs, full_job(job_id, STRESS, NEW_DATA, NEW_TOP, status="JOB_STATUS_PENDING"))
    assert outcome.position is None
    assert version(jobs, job_id) == 1
    assert document(jobs, job_id) == before == outcome.document


def test_an_upsert_with_a_mask_of_only_false_bits_writes_nothing(jobs: Jobs) -> None:
    job_id = unique("nomask")
    upsert(jobs, full_job(job_id, STRESS))
    before = document(jobs, job_id)
    outcome = upsert(jobs, full_job(job_id, STRESS, NEW_DATA, NEW_TOP, status="JOB_STATUS_PENDING"),
                     {"status": False, "termReason": False, "agentId": False, "archivedJobLogs": False,
                      "jobData": {"stress": {"projectId": False, "testRunId": False, "progress": False}}})
    assert outcome.position is None
    assert document(jobs, job_id) == before


@pytest.mark.parametrize(("job_type", "bits", "path"), MASK_BITS)
def test_each_mask_bit_writes_exactly_its_own_field(
        jobs: Jobs, job_type: str, bits: dict[str, Any], path: tuple[str, ...]) -> None:
    job_id = unique("bit")
    upsert(jobs, full_job(job_id, job_type))
    before = document(jobs, job_id)
    sent = full_job(job_id, job_type, NEW_DATA, NEW_TOP, status="JOB_STATUS_PENDING")

    outcome = upsert(jobs, sent, bits)

    after = document(jobs, job_id)
    assert at(after, path) == at(sent, path) != at(before, path)
    assert without(after, path) == without(before, path), "every other field, sibling jobData fields included"
    assert outcome.document == after
    assert version(jobs, job_id) == 2


def test_several_mask_bits_write_their_fields_together_in_one_event(jobs: Jobs) -> None:
    job_id = unique("bits")
    upsert(jobs, full_job(job_id, CONTINUOUS))
    sent = full_job(job_id, CONTINUOUS, NEW_DATA, NEW_TOP, status="JOB_STATUS_PENDING")
    upsert(jobs, sent, {"status": True, "agentId": True, "jobData": {"continuousInc": {"ctTestRunIds": True}}})
    after = document(jobs, job_id)
    assert after["status"] == "JOB_STATUS_PENDING"
    assert after["agentId"] == sent["agentId"]
    assert after["jobData"]["continuousInc"] == {**OLD_DATA["continuousInc"],
                                                 "ctTestRunIds": sent["jobData"]["continuousInc"]["ctTestRunIds"]}
    assert after["terminationReason"] == OLD_TOP["terminationReason"]
    assert version(jobs, job_id) == 2


def test_a_masked_job_data_field_is_written_into_a_job_created_without_job_data(jobs: Jobs) -> None:
    job_id = unique("late-data")
    upsert(jobs, {"jobId": job_id, "jobType": FILE_SCAN})
    upsert(jobs, {"jobId": job_id, "jobData": {"fileScan": {"fileScanId": "scan-9"}}},
           {"jobData": {"fileScan": {"fileScanId": True}}})
    assert document(jobs, job_id)["jobData"] == {"fileScan": {"fileScanId": "scan-9"}}


def test_an_explicitly_empty_list_is_carried_and_written(jobs: Jobs) -> None:
    job_id = unique("empty-list")
    upsert(jobs, full_job(job_id, CONTINUOUS))
    upsert(jobs, {"jobId": job_id, "jobData": {"continuousInc": {"ctTestRunIds": []}}},
           {"jobData": {"continuousInc": {"ctTestRunIds": True}}})
    assert document(jobs, job_id)["jobData"]["continuousInc"]["ctTestRunIds"] == []


@pytest.mark.parametrize(("job_type", "bits", "path"), MASK_BITS)
def test_a_mask_bit_that_writes_the_value_already_stored_appends_nothing(
        jobs: Jobs, job_type: str, bits: dict[str, Any], path: tuple[str, ...]) -> None:
    job_id = unique("same")
    upsert(jobs, full_job(job_id, job_type, status="JOB_STATUS_PENDING"))
    before = document(jobs, job_id)
    outcome = upsert(jobs, full_job(job_id, job_type, status="JOB_STATUS_PENDING"), bits)
    assert outcome.position is None
    assert version(jobs, job_id) == 1
    assert document(jobs, job_id) == before


def test_an_upsert_giving_the_stored_job_type_is_accepted(jobs: Jobs) -> None:
    job_id = unique("type")
    upsert(jobs, full_job(job_id, STRESS))
    upsert(jobs, {"jobId": job_id, "jobType": STRESS, "agentId": {"uuid": "agent-2"}}, {"agentId": True})
    assert document(jobs, job_id)["agentId"] == {"uuid": "agent-2"}


@pytest.mark.parametrize("other", [CONTINUOUS, FILE_SCAN, IMAGE, "JOB_TYPE_UNSPECIFIED"])
def test_an_upsert_giving_another_job_type_than_the_stored_one_is_refused_and_stores_nothing(
        jobs: Jobs, other: str) -> None:
    # The contract names no code for this one; it must be refused as a client error and store nothing.
    job_id = unique("type")
    upsert(jobs, full_job(job_id, STRESS))
    assert_refused_and_nothing_stored(jobs, job_id, (InvalidArgument, FailedPrecondition),
                                      {"jobId": job_id, "jobType": other, "agentId": {"uuid": "agent-2"}},
                                      {"agentId": True})
    assert document(jobs, job_id)["jobType"] == STRESS


# --- refused masks


@pytest.mark.parametrize(("job_type", "bits", "path"), MASK_BITS)
def test_a_mask_bit_for_a_field_the_request_does_not_carry_is_invalid_argument(
        jobs: Jobs, job_type: str, bits: dict[str, Any], path: tuple[str, ...]) -> None:
    job_id = unique("uncarried")
    upsert(jobs, full_job(job_id, job_type))
    sent = without(full_job(job_id, job_type, NEW_DATA, NEW_TOP, status="JOB_STATUS_PENDING"), path)
    # Another, carried bit rides along: the whole request is refused, not just the uncarried bit.
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument, sent,
                                      {**bits, "agentId": True} if "agentId" not in bits else {**bits, "status": True})


@pytest.mark.parametrize("kind", KINDS)
def test_a_job_data_mask_bit_without_any_job_data_in_the_request_is_invalid_argument(
        jobs: Jobs, kind: str) -> None:
    job_id = unique("uncarried")
    upsert(jobs, full_job(job_id, TYPE_OF_KIND[kind]))
    field = next(iter(OLD_DATA[kind]))
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument, {"jobId": job_id},
                                      {"jobData": {kind: {field: True}}})


def test_a_mask_bit_for_a_new_job_that_does_not_carry_the_field_is_invalid_argument(jobs: Jobs) -> None:
    assert_not_created(jobs, {"jobId": unique("create"), "jobType": IMAGE}, InvalidArgument, {"agentId": True})


@pytest.mark.parametrize(("job_type", "kind", "field"), [
    pytest.param(job_type, kind, field, id=f"{job_type.removeprefix('JOB_TYPE_')}-mask-{kind}.{field}")
    for job_type in (STRESS, CONTINUOUS, FILE_SCAN, IMAGE) for kind, field in DATA_BITS
    if kind != DATA_KEY[job_type]])
def test_a_job_data_mask_of_another_type_is_invalid_argument(
        jobs: Jobs, job_type: str, kind: str, field: str) -> None:
    job_id = unique("othermask")
    upsert(jobs, full_job(job_id, job_type))
    # The request carries the data the mask names, so only the type mismatch is wrong.
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument,
                                      {"jobId": job_id, "jobData": {kind: copy.deepcopy(NEW_DATA[kind])}},
                                      {"jobData": {kind: {field: True}}})


@pytest.mark.parametrize("bits", [{"status": True}, {"termReason": True}], ids=["status", "termReason"])
def test_a_mask_bit_for_an_unspecified_enum_is_invalid_argument_and_never_stored(
        jobs: Jobs, bits: dict[str, Any]) -> None:
    job_id = unique("unspecified")
    upsert(jobs, full_job(job_id, STRESS))
    sent = {"jobId": job_id, "status": "JOB_STATUS_UNSPECIFIED",
            "terminationReason": "TERMINATION_REASON_UNSPECIFIED"}
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument, sent, bits)


# --- terminal jobs


def terminal_job(jobs: Jobs, status: str) -> str:
    job_id = unique("terminal")
    upsert(jobs, full_job(job_id, STRESS))
    if status == "CANCELLED":
        jobs.request_cancellation(job_id, WHO)
        jobs.finalize_cancellation(job_id, WHO)
    else:
        for step in (["PENDING", "RUNNING", "SUCCEEDED"] if status == "SUCCEEDED" else ["FAILED"]):
            upsert(jobs, {"jobId": job_id, "status": f"JOB_STATUS_{step}"}, {"status": True})
    assert document(jobs, job_id)["status"] == f"JOB_STATUS_{status}"
    return job_id


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_archived_job_logs_may_still_be_written_on_a_terminal_job(jobs: Jobs, status: str) -> None:
    job_id = terminal_job(jobs, status)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    upsert(jobs, {"jobId": job_id, "archivedJobLogs": NEW_TOP["archivedJobLogs"]}, {"archivedJobLogs": True})
    after = document(jobs, job_id)
    assert after["archivedJobLogs"] == NEW_TOP["archivedJobLogs"]
    assert without(after, ("archivedJobLogs",)) == without(before, ("archivedJobLogs",))
    assert version(jobs, job_id) == version_before + 1


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
@pytest.mark.parametrize(("job_type", "bits", "path"), [p for p in MASK_BITS if p.values[0] == STRESS
                                                        and p.id not in ("status", "archivedJobLogs")])
def test_any_other_change_to_a_terminal_job_is_failed_precondition(
        jobs: Jobs, status: str, job_type: str, bits: dict[str, Any], path: tuple[str, ...]) -> None:
    job_id = terminal_job(jobs, status)
    sent = full_job(job_id, STRESS, NEW_DATA, NEW_TOP)
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition, sent, bits)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_archived_job_logs_together_with_another_change_on_a_terminal_job_stores_neither(
        jobs: Jobs, status: str) -> None:
    job_id = terminal_job(jobs, status)
    assert_refused_and_nothing_stored(jobs, job_id, FailedPrecondition,
                                      {"jobId": job_id, **NEW_TOP}, {"archivedJobLogs": True, "agentId": True})


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_resending_a_terminal_jobs_stored_values_changes_nothing_and_is_not_an_error(
        jobs: Jobs, status: str) -> None:
    job_id = terminal_job(jobs, status)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    outcome = upsert(jobs, {"jobId": job_id, "agentId": OLD_TOP["agentId"]}, {"agentId": True})
    assert outcome.position is None
    assert version(jobs, job_id) == version_before and document(jobs, job_id) == before


@pytest.mark.parametrize(("sent", "bits"), [
    pytest.param({"archivedJobLogs": NEW_TOP["archivedJobLogs"]}, {"agentId": True}, id="uncarried-bit"),
    pytest.param({"jobData": {"fileScan": {"fileScanId": "scan-1"}}}, {"jobData": {"fileScan": {"fileScanId": True}}},
                 id="job-data-of-another-type"),
    pytest.param({"jobType": FILE_SCAN, "agentId": {"uuid": "agent-2"}}, {"agentId": True}, id="other-job-type"),
    pytest.param({"status": "JOB_STATUS_CANCELLED"}, {"status": True}, id="status-cancelled"),
])
def test_a_request_that_is_itself_invalid_is_invalid_argument_even_on_a_terminal_job(
        jobs: Jobs, sent: dict[str, Any], bits: dict[str, Any]) -> None:
    # Checks run in order: the request's own validity (INVALID_ARGUMENT) before the job's state.
    job_id = terminal_job(jobs, "SUCCEEDED")
    assert_refused_and_nothing_stored(jobs, job_id, InvalidArgument, {"jobId": job_id, **sent}, bits)


# --- output-only fields

OUTPUT_ONLY = {
    "creationTime": "2001-01-01T00:00:00Z", "startTime": "2001-01-01T00:00:01Z",
    "completionTime": "2001-01-01T00:00:02Z", "runningTimeSecs": 42.0, "jobProgressStr": "9 / 9 tests completed",
    "cancellationRequested": True, "errorMsg": "sent by the client",
}


def test_output_only_fields_sent_when_creating_a_job_are_ignored(jobs: Jobs) -> None:
    job_id = unique("output-only")
    started = datetime.now(UTC)
    upsert(jobs, {**full_job(job_id, STRESS), **OUTPUT_ONLY})
    stored = document(jobs, job_id)
    created = datetime.fromisoformat(stored["creationTime"].replace("Z", "+00:00"))
    assert started <= created <= datetime.now(UTC)
    assert stored["cancellationRequested"] is False
    for field in ("startTime", "completionTime", "runningTimeSecs", "jobProgressStr", "errorMsg"):
        assert field not in stored, field


def test_output_only_fields_sent_to_an_existing_job_are_ignored(jobs: Jobs) -> None:
    job_id = unique("output-only")
    upsert(jobs, full_job(job_id, STRESS))
    before = document(jobs, job_id)
    outcome = upsert(jobs, {"jobId": job_id, "agentId": NEW_TOP["agentId"], **OUTPUT_ONLY}, {"agentId": True})
    after = document(jobs, job_id)
    assert after == {**before, "agentId": NEW_TOP["agentId"]}
    assert outcome.document == after
    nothing = upsert(jobs, {"jobId": job_id, **OUTPUT_ONLY})
    assert nothing.position is None and version(jobs, job_id) == 2


def test_a_time_that_leaves_the_calendar_when_converted_to_utc_is_invalid_argument_not_a_crash() -> None:
    import pydantic

    from jobstore.domain.values import JobMetadata as Metadata

    with pytest.raises(pydantic.ValidationError, match="out of range"):
        Metadata.model_validate({"jobId": "j", "startTime": "0001-01-01T00:00:00.0+01:00"})
