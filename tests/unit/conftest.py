"""Unit tests run the domain in memory: the application service on the library's in-memory store (the stored
backends are the integration and end-to-end tiers' to test)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from jobstore.domain.application import Jobs

IN_MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "10000",
             "AGGREGATE_CACHE_FASTFORWARD": "n"}


@pytest.fixture
def jobs() -> Iterator[Jobs]:
    service = Jobs(env=IN_MEMORY)
    yield service
    service.close()
