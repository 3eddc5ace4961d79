from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, drop_schema, postgres_url
from tests.e2e.private_postgres import PrivateCluster
from tests.e2e.server import Server


@dataclass
class Keys:
    admin: str
    writer: str
    reader: str
    auditor: str


StoreLocation = tuple[str | None, str | None]


@contextmanager
def store_location(backend: str) -> Iterator[StoreLocation]:
    """(database URL, schema) for a test's own servers: none on SQLite (the server's home holds the store); a
    fresh schema on PostgreSQL, dropped afterwards."""
    if backend != "postgres":
        yield None, None
        return
    url, schema = postgres_url(), f"e_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        drop_schema(url, schema)


@pytest.fixture
def store(backend: str) -> Iterator[StoreLocation]:
    with store_location(backend) as location:
        yield location


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `jobstore serve` per test module and backend."""
    home = tmp_path_factory.mktemp("serve")
    with store_location(request.param) as (url, schema):
        running = Server(Path(home), url, schema).start()
        yield running
        running.stop()


@pytest.fixture(scope="module")
def keys(server: Server) -> Keys:
    return Keys(admin=server.key("admin"), writer=server.key("writer"), reader=server.key("reader"),
                auditor=server.key("auditor"))


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[PrivateCluster]:
    """A PostgreSQL primary and hot standby of the test's own, replicating synchronously when the test asks with
    `@pytest.mark.parametrize("cluster", ["synchronous"], indirect=True)`."""
    postgres_url()  # the suite's PostgreSQL runs: so does this one (tests/run installs it)
    own = PrivateCluster().create(synchronous=getattr(request, "param", None) == "synchronous")
    try:
        yield own
    finally:
        own.destroy()
