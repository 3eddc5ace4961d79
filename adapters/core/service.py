"""The core as one object: what a transport is given to serve."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from jobstore.adapters.core.answers import KeptAnswers
from jobstore.adapters.core.commands import Commands, CommandTimer
from jobstore.adapters.core.log import LogProofs
from jobstore.adapters.core.queries import Queries
from jobstore.adapters.runtime import Services


class Core:
    def __init__(self, services: Services, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timed: CommandTimer = lambda *_: None) -> None:
        self.services = services
        self.commands = Commands(services, now, timed)
        self.queries = Queries(services, now)
        self.log = LogProofs(services)
        self.answers = KeptAnswers()
