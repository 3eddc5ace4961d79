"""Listing jobs by how they ended: `firstPageQuery.selectedTerminationReasons` (repeated, as the other
selections), on both list routes, kept by page tokens, documented in /openapi.json."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok, upsert

REASONS = "firstPageQuery.selectedTerminationReasons"
OOM, GENERIC, INTERNAL = ("TERMINATION_REASON_OOMKILLED", "TERMINATION_REASON_GENERIC_ERROR",
                          "TERMINATION_REASON_INTERNAL_ERROR")


@dataclass
class Failures:
    project: str
    by_reason: dict[str, list[str]]
    running: str


@pytest.fixture
def failures(server: Server, keys: Keys) -> Failures:
    project = unique("project")
    by_reason: dict[str, list[str]] = {OOM: [], GENERIC: []}
    for reason, count in ((OOM, 3), (GENERIC, 2)):
        for _ in range(count):
            job_id = unique("ended")
            ok(upsert(server, keys.writer, {"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN",
                                            "jobData": {"fileScan": {"projectId": {"uuid": project}}}}))
            ok(server.call("POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": reason}, key=keys.writer))
            by_reason[reason].append(job_id)
    running = unique("running")
    last = ok(upsert(server, keys.writer, {"jobId": running, "jobType": "JOB_TYPE_FILE_SCAN",
                                           "status": "JOB_STATUS_PENDING",
                                           "jobData": {"fileScan": {"projectId": {"uuid": project}}}}))
    server.call("GET", f"/v1/jobs/{running}?minPosition={last.headers['x-jobstore-position']}", key=keys.reader)
    return Failures(project, by_reason, running)


def listed(server: Server, key: str, path: str, *pairs: tuple[str, str]) -> list[str]:
    reply = server.call("GET", f"{path}?{urlencode(pairs)}", key=key)
    assert reply.status == 200, reply.body
    return [job["jobId"] for job in reply.body["jobs"]]


def test_a_project_list_selects_jobs_by_termination_reason(server: Server, keys: Keys, failures: Failures) -> None:
    path = f"/v1/jobs/project/{failures.project}"
    assert sorted(listed(server, keys.reader, path, (REASONS, OOM))) == sorted(failures.by_reason[OOM])
    both = listed(server, keys.reader, path, (REASONS, OOM), (REASONS, GENERIC))
    assert sorted(both) == sorted(failures.by_reason[OOM] + failures.by_reason[GENERIC])
    assert listed(server, keys.reader, path, (REASONS, INTERNAL)) == []
    everything = listed(server, keys.reader, path)
    assert failures.running in everything and len(everything) == 6


def test_the_list_of_all_jobs_combines_it_with_the_other_selections(server: Server, keys: Keys,
                                                                    failures: Failures) -> None:
    generic = listed(server, keys.reader, "/v1/jobs", (REASONS, GENERIC), ("pageSize", "500"),
                     ("firstPageQuery.selectedStatuses", "JOB_STATUS_FAILED"))
    assert set(failures.by_reason[GENERIC]) <= set(generic)
    assert not set(failures.by_reason[OOM]) & set(generic)
    assert listed(server, keys.reader, "/v1/jobs", (REASONS, GENERIC),
                  ("firstPageQuery.selectedStatuses", "JOB_STATUS_RUNNING")) == []


def test_later_pages_keep_the_selection_from_the_token(server: Server, keys: Keys, failures: Failures) -> None:
    path = f"/v1/jobs/project/{failures.project}"
    first = server.call("GET", f"{path}?{urlencode([(REASONS, OOM), ('pageSize', '2')])}", key=keys.reader)
    assert first.body["hasMore"] is True
    token = first.body["nextPageToken"]
    second = server.call("GET", f"{path}?{urlencode([('pageToken', token), ('pageSize', '2')])}", key=keys.reader)
    pages = [job["jobId"] for page in (first, second) for job in page.body["jobs"]]
    assert sorted(pages) == sorted(failures.by_reason[OOM]) and second.body["hasMore"] is False
    changed = server.call("GET", f"{path}?{urlencode([('pageToken', token), (REASONS, GENERIC)])}", key=keys.reader)
    assert changed.status == 400 and changed.body["code"] == 3 and "pageToken" in changed.body["message"]


def test_a_reason_that_is_not_one_is_invalid_argument_naming_the_parameter(server: Server, keys: Keys) -> None:
    reply = server.call("GET", f"/v1/jobs?{urlencode([(REASONS, 'TERMINATION_REASON_BORED')])}", key=keys.reader)
    assert reply.status == 400 and reply.body["code"] == 3
    assert reply.body["message"].startswith(f"{REASONS}: ")


def test_the_parameter_is_documented_on_both_list_routes(server: Server) -> None:
    paths = server.call("GET", "/openapi.json").body["paths"]
    for route in ("/v1/jobs", "/v1/jobs/project/{projectId}"):
        [parameter] = [p for p in paths[route]["get"]["parameters"] if p["name"] == REASONS]
        assert OOM in parameter["schema"]["items"]["enum"]
