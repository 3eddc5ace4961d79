"""Values that look like SQL are stored and read back as plain text: nothing is ever spliced into SQL."""
from __future__ import annotations

from urllib.parse import quote

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server

NASTY = "x';DROP-TABLE-job_view_basic;--\"\\%_*?"


def test_sql_looking_ids_and_filters_are_just_text(server: Server, keys: Keys) -> None:
    job_id = unique(NASTY)
    project = {"uuid": "p' OR '1'='1"}
    created = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN",
                                                              "jobData": {"fileScan": {"projectId": project}}}},
                          key=keys.writer)
    assert created.status == 200, created.body
    position = created.headers["x-jobstore-position"]
    read = server.call("GET", f"/v1/jobs/{quote(job_id, safe='')}?minPosition={position}", key=keys.reader)
    assert read.status == 200 and read.body["job"]["jobId"] == job_id
    listed = server.call("GET", f"/v1/jobs/project/{quote(project['uuid'], safe='')}?minPosition={position}",
                         key=keys.reader)
    assert [j["jobId"] for j in listed.body["jobs"]] == [job_id]
    other = server.call("GET", f"/v1/jobs/project/{quote(chr(39) + ' OR 1=1 --', safe='')}", key=keys.reader)
    assert other.status == 200 and other.body["jobs"] == []
    assert server.call("GET", "/v1/jobs?pageSize=1", key=keys.reader).status == 200
