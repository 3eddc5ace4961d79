"""A server on this host can be reached through its Unix socket: JOBSTORE_DATABASE_URL=...?host=/socket/dir."""
from __future__ import annotations

import uuid
from pathlib import Path
from urllib.parse import urlsplit

from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.enums import JobView
from jobstore.domain.job import Provenance
from tests.conftest import drop_schema, postgres_setting, postgres_url, unique, upsert_request


def test_the_store_works_through_postgresqls_unix_socket(tmp_path: Path) -> None:
    tcp, socket_dir = urlsplit(postgres_url()), postgres_setting("JOBSTORE_TEST_SOCKET_DIR")
    url = f"postgresql://{tcp.username}@{tcp.path}?host={socket_dir}&port={tcp.port}"
    settings = Settings(home=tmp_path, database_url=url, database_schema=f"t_{uuid.uuid4().hex[:12]}")
    assert settings.postgres()["host"].startswith("/")
    services = open_services(settings)
    try:
        job_id = unique("socket")
        services.jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_FILE_SCAN"}),
                             Provenance("tester", "writer", "socket"))
        services.engine.catch_up()
        row = services.views.get(JobView.FULL, job_id)
        assert row is not None and row.document["status"] == "JOB_STATUS_REQUESTED"
    finally:
        services.close()
        drop_schema(postgres_url(), settings.database_schema)
