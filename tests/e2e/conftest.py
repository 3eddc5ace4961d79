from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, drop_schema, postgres_url
from tests.e2e.server import Server


@dataclass
class Keys:
    admin: str
    writer: str
    reader: str
    auditor: str


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `jobstore serve` per test module and backend."""
    home = tmp_path_factory.mktemp("serve")
    url = schema = None
    if request.param == "postgres":
        url = postgres_url()
        schema = f"e_{uuid.uuid4().hex[:12]}"
    running = Server(Path(home), url, schema).start()
    yield running
    running.stop()
    if url and schema:
        drop_schema(url, schema)


@pytest.fixture(scope="module")
def keys(server: Server) -> Keys:
    return Keys(admin=server.key("admin"), writer=server.key("writer"), reader=server.key("reader"),
                auditor=server.key("auditor"))
