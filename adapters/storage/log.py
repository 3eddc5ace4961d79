"""The global event log as the projection engine reads it: the event store's notifications, decoded."""
from __future__ import annotations

from collections.abc import Sequence

from domain.application import Jobs
from projections.decode import decode
from projections.rows import LoggedEvent


class EventStoreLog:
    def __init__(self, app: Jobs) -> None:
        self.app = app

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]:
        notifications = self.app.recorder.select_notifications(start=after + 1, limit=limit)
        return [decode(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notifications]

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)
