"""The behaviour of the `eventsourcing` library's private parts that jobstore relies on (all used in
adapters/storage/library.py), pinned: after an upgrade of the library, a failure here names what changed before
anything is stored wrongly. The PostgreSQL append is pinned in tests/integration/test_event_append.py."""
from __future__ import annotations

import importlib.metadata
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import resolve_topic

from jobstore.adapters.runtime import event_store_env
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage import library
from jobstore.adapters.storage.codec import LEGACY_JOB_TOPIC
from jobstore.adapters.storage.library import POSTGRES_FACTORY_TOPIC, EventTranscoder, PostgresFactory, StoredJobs
from jobstore.adapters.storage.sqlite import SQLiteBackend
from jobstore.domain.application import Jobs
from jobstore.domain.job import Job, Provenance, stream_id
from tests.conftest import upsert_request
from tests.unit.conftest import IN_MEMORY

PINNED = "9.5.6"
BY = Provenance("boundary", "writer", "req-boundary")
MOMENT = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)


def test_the_library_is_the_version_whose_private_parts_are_pinned_here() -> None:
    assert importlib.metadata.version("eventsourcing") == PINNED, (
        "adapters/storage/library.py uses private parts of eventsourcing " + PINNED + ": run this file and "
        "tests/integration/test_event_append.py against the new version, fix library.py, then move PINNED")


def test_the_private_steps_of_save_exist_with_the_shapes_the_fast_save_calls() -> None:
    for name in ("_record", "_take_snapshots", "_notify"):
        assert callable(getattr(Application, name, None)), f"Application.{name} is gone"


def run_lifecycle(jobs: Jobs, job_id: str, progress_reports: int) -> list[int]:
    positions = [jobs.upsert(upsert_request({"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST"}), BY).position]
    for n in range(progress_reports):
        progress = {"testRun": {"testRunId": "r", "testBatches": [{"type": f"b{n}"}]}}
        outcome = jobs.upsert(upsert_request({"jobId": job_id, "jobData": {"stress": {"progress": progress}}},
                                             {"jobData": {"stress": {"progress": True}}}), BY)
        positions.append(outcome.position)
    return [p for p in positions if p is not None]


def stored(jobs: Jobs, stream: UUID) -> tuple[list[tuple[int, str, bytes]], list[tuple[int, str, Any]]]:
    """The job's stored events, and its snapshots but for when each was taken (the library's clock)."""
    events = [(e.originator_version, e.topic, bytes(e.state)) for e in jobs.recorder.select_events(stream)]
    assert jobs.snapshots is not None
    snapshots = [(e.originator_version, e.topic, {k: v for k, v in json.loads(e.state).items() if k != "timestamp"})
                 for e in jobs.snapshots.recorder.select_events(stream)]
    return events, snapshots


def test_the_fast_save_stores_caches_and_snapshots_exactly_what_the_librarys_save_does() -> None:
    public, fast = Jobs(env=IN_MEMORY, clock=lambda: MOMENT), StoredJobs(env=IN_MEMORY, clock=lambda: MOMENT)
    try:
        public_positions = run_lifecycle(public, "boundary-1", 55)
        fast_positions = run_lifecycle(fast, "boundary-1", 55)
        assert fast_positions == public_positions == list(range(1, 57))
        fast_events, fast_snapshots = stored(fast, stream_id("boundary-1"))
        assert (fast_events, fast_snapshots) == stored(public, stream_id("boundary-1"))
        every = Jobs.snapshotting_intervals[Job]
        assert [version for version, _, _ in fast_snapshots] == list(range(every, 57, every))
        assert fast.repository.cache is not None
        cached = fast.repository.cache.get(stream_id("boundary-1"))
        assert isinstance(cached, Job) and cached.version == 56
    finally:
        public.close()
        fast.close()


def test_the_fast_save_keeps_the_applications_name_and_so_its_table_names() -> None:
    assert StoredJobs.name == Jobs.name == "jobstore"


def test_the_transcoder_wraps_a_datetime_as_the_librarys_private_encoder_does() -> None:
    ours, theirs = EventTranscoder(), JSONTranscoder()
    for transcoder in (ours, theirs):
        transcoder.register(DatetimeAsISO())
        transcoder.register(UUIDAsHex())
    assert datetime in ours.types and UUID in ours.types
    assert ours._encode_obj(MOMENT) == {"_type_": "datetime_iso", "_data_": MOMENT.isoformat()}
    state: dict[str, Any] = {"timestamp": MOMENT, "originator_topic": "t", "data": {"a": [1, "é"]}, "n": 3}
    assert ours.encode(state) == theirs.encode(state)
    assert ours.decode(ours.encode(state)) == state


def test_the_store_is_configured_with_this_transcoder_and_this_postgresql_factory(tmp_path: Path) -> None:
    backend = SQLiteBackend(Settings(home=tmp_path))
    try:
        assert resolve_topic(event_store_env(backend)["TRANSCODER_TOPIC"]) is EventTranscoder
    finally:
        backend.close()
    assert resolve_topic(POSTGRES_FACTORY_TOPIC) is PostgresFactory


def test_old_topics_resolve_to_todays_job_classes() -> None:
    assert resolve_topic(LEGACY_JOB_TOPIC) is Job
    assert resolve_topic(LEGACY_JOB_TOPIC + ".Upserted") is Job.Upserted


@pytest.mark.parametrize("attribute", ["lock_table_statements", "channel_name", "events_table_name"])
def test_the_postgresql_recorder_sets_the_attributes_the_one_query_append_reads(attribute: str) -> None:
    source = PostgresApplicationRecorder.__init__.__code__.co_names
    assert attribute in source, f"PostgresApplicationRecorder no longer sets {attribute}"


def test_the_postgresql_datastore_keeps_its_pool_and_schema_where_the_append_reads_them() -> None:
    names = PostgresDatastore.__init__.__code__.co_names
    for attribute in ("pool", "schema", "pool_open_timeout"):
        assert attribute in names, f"PostgresDatastore no longer sets {attribute}"


@pytest.mark.parametrize("method", ["select_events", "select_notifications", "max_notification_id",
                                    "insert_events"])
def test_the_recorder_methods_whose_retries_are_bounded_are_wrapped_by_the_librarys_retry(method: str) -> None:
    wrapped = getattr(PostgresApplicationRecorder, method)
    assert callable(getattr(wrapped, "__wrapped__", None)), f"{method} is no longer wrapped by retry()"
    assert library.ATTEMPTS < 10
