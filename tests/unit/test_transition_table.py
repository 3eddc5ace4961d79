"""Every cell of the contract's transition table, driven through the application service on the in-memory store.

The table below is copied by hand from the contract (api-contract.md, "The state machine"); it is deliberately
NOT read from `domain/transitions.py`, so that a wrong table in the product makes these tests fail.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from jobstore.domain.application import Jobs
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobNotFound
from jobstore.domain.job import Provenance
from tests.conftest import unique, upsert_request

# The contract's table, cell for cell; the last row of the contract ("SUCCEEDED, FAILED, CANCELLED") is spelled
# out as three rows.
CONTRACT_TABLE = """
| from \\ to   | PENDING | RUNNING | RECONCILING | SUCCEEDED | FAILED | CANCELLED    |
| (new job)   | yes     | —       | —           | —         | —      | —            |
| REQUESTED   | yes     | —       | yes         | —         | yes    | via finalize |
| PENDING     | —       | yes     | yes         | —         | yes    | via finalize |
| RUNNING     | —       | —       | yes         | yes       | yes    | via finalize |
| RECONCILING | yes     | yes     | —           | yes       | yes    | via finalize |
| SUCCEEDED   | —       | —       | —           | —         | —      | —            |
| FAILED      | —       | —       | —           | —         | —      | —            |
| CANCELLED   | —       | —       | —           | —         | —      | —            |
"""


def _parse(table: str) -> dict[str, dict[str, str]]:
    lines = [[cell.strip() for cell in line.strip().strip("|").split("|")]
             for line in table.strip().splitlines()]
    header, rows = lines[0][1:], lines[1:]
    return {row[0]: dict(zip(header, row[1:], strict=True)) for row in rows}


TABLE = _parse(CONTRACT_TABLE)
NEW_JOB = "(new job)"
STATUSES = ["REQUESTED", "PENDING", "RUNNING", "RECONCILING", "SUCCEEDED", "FAILED", "CANCELLED"]
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
DIRECT_TARGETS = ["PENDING", "RUNNING", "RECONCILING", "SUCCEEDED", "FAILED"]

# How a fresh job reaches each status by legal steps only ("cancel" = request, then finalize the cancellation).
PATH_TO = {
    "REQUESTED": [],
    "PENDING": ["PENDING"],
    "RUNNING": ["PENDING", "RUNNING"],
    "RECONCILING": ["RECONCILING"],
    "SUCCEEDED": ["PENDING", "RUNNING", "SUCCEEDED"],
    "FAILED": ["FAILED"],
    "CANCELLED": ["cancel"],
}

WHO = Provenance(actor="transition-tests", role="writer", request_id="req-transitions")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def wire_status(short: str) -> str:
    return f"JOB_STATUS_{short}"


def create(jobs: Jobs, job_id: str, status: str | None = None) -> Any:
    job: dict[str, Any] = {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}
    if status is not None:
        job["status"] = wire_status(status)
    return jobs.upsert(upsert_request(job), WHO)


def upsert_status(jobs: Jobs, job_id: str, status: str) -> Any:
    return jobs.upsert(upsert_request({"jobId": job_id, "status": wire_status(status)}, {"status": True}), WHO)


def job_in(jobs: Jobs, status: str) -> str:
    """A fresh job brought to `status` by legal steps."""
    job_id = unique("tt")
    create(jobs, job_id)
    for step in PATH_TO[status]:
        if step == "cancel":
            jobs.request_cancellation(job_id, WHO)
            jobs.finalize_cancellation(job_id, WHO)
        else:
            upsert_status(jobs, job_id, step)
    assert document(jobs, job_id)["status"] == wire_status(status)
    return job_id


def document(jobs: Jobs, job_id: str) -> dict[str, Any]:
    return dict(jobs.job(job_id).document)


def version(jobs: Jobs, job_id: str) -> int:
    return int(jobs.job(job_id).version)


def moment(text: str) -> datetime:
    assert TIME.match(text), f"{text!r} is not RFC 3339 UTC with a Z suffix"
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now() -> datetime:
    return datetime.now(UTC)


def cell_id(source: str, target: str) -> str:
    """A test id for a cell: `RUNNING->SUCCEEDED:yes`, `PENDING->PENDING:no`, `RUNNING->CANCELLED:via-finalize`."""
    word = {"yes": "yes", "—": "no", "via finalize": "via-finalize"}[TABLE[source][target]]
    return f"{'new' if source == NEW_JOB else source}->{target}:{word}"


def direct_cells() -> list[Any]:
    return [pytest.param(source, target, TABLE[source][target], id=cell_id(source, target))
            for source in STATUSES for target in DIRECT_TARGETS]


def test_the_literal_table_has_every_row_and_column_of_the_contract() -> None:
    assert list(TABLE) == [NEW_JOB, *STATUSES]
    assert all(list(row) == [*DIRECT_TARGETS, "CANCELLED"] for row in TABLE.values())
    assert {cell for row in TABLE.values() for cell in row.values()} == {"yes", "—", "via finalize"}


@pytest.mark.parametrize(("source", "target", "cell"), direct_cells())
def test_an_upsert_of_a_status_moves_the_job_exactly_when_the_table_says_yes(
        jobs: Jobs, source: str, target: str, cell: str) -> None:
    job_id = job_in(jobs, source)
    before, version_before = document(jobs, job_id), version(jobs, job_id)

    if cell == "yes":
        started = now()
        outcome = upsert_status(jobs, job_id, target)
        finished = now()
        after = document(jobs, job_id)
        assert after["status"] == wire_status(target)
        assert outcome.document["status"] == wire_status(target)
        assert version(jobs, job_id) == version_before + 1, "an accepted change appends exactly one event"
        assert outcome.position is not None
        # startTime: set on entering RUNNING the first time, never touched otherwise.
        if target == "RUNNING" and "startTime" not in before:
            assert started <= moment(after["startTime"]) <= finished
        else:
            assert after.get("startTime") == before.get("startTime")
        # completionTime: set exactly on entering a terminal status.
        if target in TERMINAL:
            assert started <= moment(after["completionTime"]) <= finished
        else:
            assert "completionTime" not in after
    elif source == target:
        # Setting a status equal to the current one is not a transition: it changes nothing.
        outcome = upsert_status(jobs, job_id, target)
        assert outcome.position is None
        assert version(jobs, job_id) == version_before
        assert document(jobs, job_id) == before
    else:
        with pytest.raises(FailedPrecondition):
            upsert_status(jobs, job_id, target)
        assert version(jobs, job_id) == version_before, "a refused transition stores nothing"
        assert document(jobs, job_id) == before


@pytest.mark.parametrize("source", STATUSES)
def test_an_upsert_asking_for_cancelled_is_invalid_argument_whatever_the_status(
        jobs: Jobs, source: str) -> None:
    job_id = job_in(jobs, source)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    with pytest.raises(InvalidArgument):
        upsert_status(jobs, job_id, "CANCELLED")
    assert version(jobs, job_id) == version_before
    assert document(jobs, job_id) == before


@pytest.mark.parametrize("source", STATUSES, ids=[cell_id(s, "CANCELLED") for s in STATUSES])
def test_finalizing_a_cancellation_reaches_cancelled_only_where_the_table_says_via_finalize(
        jobs: Jobs, source: str) -> None:
    job_id = job_in(jobs, source)
    cell = TABLE[source]["CANCELLED"]
    before, version_before = document(jobs, job_id), version(jobs, job_id)

    if cell == "via finalize":
        # Without a request first: refused, nothing stored.
        with pytest.raises(FailedPrecondition):
            jobs.finalize_cancellation(job_id, WHO)
        assert version(jobs, job_id) == version_before
        # After a request: CANCELLED, completionTime set, startTime untouched.
        jobs.request_cancellation(job_id, WHO)
        started = now()
        outcome = jobs.finalize_cancellation(job_id, WHO)
        finished = now()
        after = document(jobs, job_id)
        assert after["status"] == outcome.document["status"] == "JOB_STATUS_CANCELLED"
        assert version(jobs, job_id) == version_before + 2
        assert started <= moment(after["completionTime"]) <= finished
        assert after.get("startTime") == before.get("startTime")
    elif source == "CANCELLED":
        # Already CANCELLED: finalizing again changes nothing.
        outcome = jobs.finalize_cancellation(job_id, WHO)
        assert outcome.position is None
        assert version(jobs, job_id) == version_before
        assert document(jobs, job_id) == before
    else:
        with pytest.raises(FailedPrecondition):
            jobs.finalize_cancellation(job_id, WHO)
        assert version(jobs, job_id) == version_before
        assert document(jobs, job_id) == before


@pytest.mark.parametrize("source", STATUSES, ids=[f"{s}->REQUESTED" for s in STATUSES])
def test_no_job_ever_moves_back_to_requested_because_the_table_has_no_such_column(
        jobs: Jobs, source: str) -> None:
    job_id = job_in(jobs, source)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    if source == "REQUESTED":
        assert upsert_status(jobs, job_id, "REQUESTED").position is None
    else:
        with pytest.raises(FailedPrecondition):
            upsert_status(jobs, job_id, "REQUESTED")
    assert version(jobs, job_id) == version_before
    assert document(jobs, job_id) == before


@pytest.mark.parametrize("target", [*DIRECT_TARGETS, "CANCELLED"],
                         ids=[cell_id(NEW_JOB, t) for t in [*DIRECT_TARGETS, "CANCELLED"]])
def test_a_new_job_may_start_only_in_pending_besides_the_default_requested(
        jobs: Jobs, target: str) -> None:
    job_id = unique("new")
    if TABLE[NEW_JOB][target] == "yes":
        outcome = create(jobs, job_id, target)
        assert document(jobs, job_id)["status"] == outcome.document["status"] == wire_status(target)
        assert version(jobs, job_id) == 1
        assert "startTime" not in outcome.document and "completionTime" not in outcome.document
        return
    expected = InvalidArgument if target == "CANCELLED" else FailedPrecondition
    with pytest.raises(expected):
        create(jobs, job_id, target)
    with pytest.raises(JobNotFound):
        jobs.job(job_id)


@pytest.mark.parametrize("initial", [None, "REQUESTED", "UNSPECIFIED"], ids=["no-status", "REQUESTED", "UNSPECIFIED"])
def test_a_new_job_starts_in_requested_by_default(jobs: Jobs, initial: str | None) -> None:
    # UNSPECIFIED is never stored; the README says it counts as "not set", as in proto3.
    job_id = unique("new")
    outcome = create(jobs, job_id, initial)
    assert outcome.document["status"] == "JOB_STATUS_REQUESTED"
    assert document(jobs, job_id)["status"] == "JOB_STATUS_REQUESTED"
    assert version(jobs, job_id) == 1


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_a_terminal_status_never_changes_whatever_is_asked(jobs: Jobs, terminal: str) -> None:
    job_id = job_in(jobs, terminal)
    before, version_before = document(jobs, job_id), version(jobs, job_id)
    for target in STATUSES:
        if target == "CANCELLED":  # an upsert asking for CANCELLED is invalid, even on a CANCELLED job
            with pytest.raises(InvalidArgument):
                upsert_status(jobs, job_id, target)
        elif target == terminal:
            assert upsert_status(jobs, job_id, target).position is None
        else:
            with pytest.raises(FailedPrecondition):
                upsert_status(jobs, job_id, target)
    if terminal != "CANCELLED":
        with pytest.raises(FailedPrecondition):
            jobs.finalize_cancellation(job_id, WHO)
    assert version(jobs, job_id) == version_before
    assert document(jobs, job_id) == before


@pytest.mark.parametrize("detour", [["RECONCILING"], ["RECONCILING", "PENDING"]],
                         ids=["via-RECONCILING", "via-RECONCILING-and-PENDING"])
def test_entering_running_again_keeps_the_start_time_of_the_first_entry(
        jobs: Jobs, detour: list[str]) -> None:
    job_id = job_in(jobs, "RUNNING")
    first_start = document(jobs, job_id)["startTime"]
    for step in [*detour, "RUNNING"]:
        upsert_status(jobs, job_id, step)
        assert document(jobs, job_id)["startTime"] == first_start
    assert document(jobs, job_id)["status"] == "JOB_STATUS_RUNNING"


def test_start_time_is_absent_until_the_job_first_enters_running(jobs: Jobs) -> None:
    job_id = job_in(jobs, "REQUESTED")
    for step in ["RECONCILING", "PENDING", "RECONCILING"]:
        upsert_status(jobs, job_id, step)
        assert "startTime" not in document(jobs, job_id)
    started = now()
    upsert_status(jobs, job_id, "RUNNING")
    assert started <= moment(document(jobs, job_id)["startTime"]) <= now()


def test_completion_time_is_set_once_on_entering_a_terminal_status_and_never_before(jobs: Jobs) -> None:
    job_id = job_in(jobs, "REQUESTED")
    for step in ["PENDING", "RUNNING", "RECONCILING", "RUNNING"]:
        upsert_status(jobs, job_id, step)
        assert "completionTime" not in document(jobs, job_id)
    started = now()
    upsert_status(jobs, job_id, "SUCCEEDED")
    completion = document(jobs, job_id)["completionTime"]
    assert started <= moment(completion) <= now()
    assert moment(completion) >= moment(document(jobs, job_id)["startTime"])
    upsert_status(jobs, job_id, "SUCCEEDED")  # equal status: nothing changes, completionTime included
    assert document(jobs, job_id)["completionTime"] == completion
