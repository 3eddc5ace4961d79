"""Shared fixtures: every store-backed test runs on SQLite and on PostgreSQL.

PostgreSQL comes from JOBSTORE_TEST_DATABASE_URL (`bash tests/run` starts a private server and sets it). Each
test gets its own schema there, and its own directory for SQLite. In CI a missing PostgreSQL is a failure.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from jobstore.adapters.runtime import Services, open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.enums import TerminationReason
from jobstore.domain.requests import FailJobRequest, UpsertJobRequest, parse_request
from jobstore.domain.values import JobMetadata, WriteMask

BACKENDS = ("sqlite", "postgres")
ROOT = Path(__file__).resolve().parents[1]
SOAK = os.environ.get("JOBSTORE_SOAK") == "1"  # `bash bench/run --soak` runs the fault tests longer


def postgres_setting(name: str) -> str:
    """A setting of the test PostgreSQL (tests/postgres.sh exports them); missing is a failure in CI."""
    value = os.environ.get(name)
    if not value:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not set: in CI the PostgreSQL tests must run, not skip")
        pytest.skip(f"no PostgreSQL: run `bash tests/run`, or set {name}")
    return value


def postgres_url() -> str:
    return postgres_setting("JOBSTORE_TEST_DATABASE_URL")


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


SettingsFactory = Callable[[], Settings]


@pytest.fixture
def make_settings(backend: str, tmp_path: Path) -> Iterator[SettingsFactory]:
    """Fresh, empty stores on the test's backend (one per call)."""
    schemas: list[str] = []
    url = postgres_url() if backend == "postgres" else None

    def make() -> Settings:
        home = tmp_path / f"home-{uuid.uuid4().hex[:8]}"
        if url is None:
            return Settings(home=home)
        schema = f"t_{uuid.uuid4().hex[:12]}"
        schemas.append(schema)
        return Settings(home=home, database_url=url, database_schema=schema)

    yield make
    for schema in schemas:
        assert url is not None
        drop_schema(url, schema)


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    opened = open_services(settings)
    yield opened
    opened.close()


def unique(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def upsert_request(job: dict[str, Any] | JobMetadata, mask: dict[str, Any] | WriteMask | None = None
                   ) -> UpsertJobRequest:
    """An UpsertJob request as a client sends it; what a client could not send is INVALID_ARGUMENT."""
    return parse_request(UpsertJobRequest, {"job": job, "writeMask": mask})


def fail_request(reason: TerminationReason | str | None, message: str | None = None) -> FailJobRequest:
    return parse_request(FailJobRequest, {"terminationReason": reason, "errorMsg": message})
