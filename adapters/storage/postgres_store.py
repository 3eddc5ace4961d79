"""The event store on PostgreSQL: the library's recorders, retrying a lost connection a couple of times
instead of ten, so that during a database outage a request answers UNAVAILABLE within seconds instead of
hanging. Selected with PERSISTENCE_MODULE=adapters.storage.postgres_store."""
from __future__ import annotations

from typing import Any

from eventsourcing import postgres
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from eventsourcing.utils import retry

ATTEMPTS = 2


def _bounded(method: Any) -> Any:
    return retry((InterfaceError, OperationalError), max_attempts=ATTEMPTS, wait=0.2)(method.__wrapped__)


class SnapshotRecorder(PostgresAggregateRecorder):
    insert_events = _bounded(PostgresAggregateRecorder.insert_events)
    select_events = _bounded(PostgresAggregateRecorder.select_events)


class EventRecorder(PostgresApplicationRecorder):
    insert_events = _bounded(PostgresApplicationRecorder.insert_events)
    select_events = _bounded(PostgresApplicationRecorder.select_events)
    select_notifications = _bounded(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _bounded(PostgresApplicationRecorder.max_notification_id)


class Factory(postgres.PostgresFactory):  # the library looks for exactly one factory class in this module
    aggregate_recorder_class = SnapshotRecorder
    application_recorder_class = EventRecorder
