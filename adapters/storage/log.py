"""The global event log as the projection engine reads it: the event store's notifications, decoded."""
from __future__ import annotations

from collections.abc import Sequence

from domain.application import Jobs
from domain.job import Job
from projections.rows import LoggedEvent


class EventStoreLog:
    def __init__(self, app: Jobs) -> None:
        self.app = app

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]:
        notifications = self.app.recorder.select_notifications(start=after + 1, limit=limit)
        events: list[LoggedEvent] = []
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            assert isinstance(event, Job.Event), f"unexpected event in the log: {notification.topic}"
            events.append(LoggedEvent(position=notification.id, stream_id=str(notification.originator_id),
                                      version=notification.originator_version, type=type(event).__name__,
                                      data=event.data))
        return events

    def head(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)
