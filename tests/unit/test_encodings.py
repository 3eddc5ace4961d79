"""The encodings written with msgspec and orjson write what the library, Python's json and Starlette wrote
before them: a job's hash over its canonical record, the stored bytes of its events and snapshots, and response
bodies; and the quick check of a job id agrees with the character-by-character one."""
from __future__ import annotations

import json
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import JSONResponse as StarletteJSONResponse

from jobstore.adapters.http.common import JSONResponse
from jobstore.adapters.runtime import event_store_env
from jobstore.adapters.settings import Settings
from jobstore.adapters.storage.library import EventTranscoder
from jobstore.adapters.storage.sqlite import SQLiteBackend
from jobstore.domain.application import Jobs
from jobstore.domain.chain import canonical_bytes, canonical_record
from jobstore.domain.job import Job, Provenance
from jobstore.domain.values import job_id_problem
from tests.conftest import upsert_request

TEXT = st.text(st.characters(exclude_categories=["Cs"]))  # lone surrogates are refused at the API
JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | TEXT,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                           max_leaves=20)
BY = Provenance("actor é", "writer", "request-1")


def _python_json(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@given(data=st.dictionaries(TEXT, JSON_VALUES, max_size=6), job_id=TEXT, actor=TEXT, version=st.integers(1, 10**9),
       server_request_id=st.none() | TEXT)
def test_the_canonical_bytes_are_those_of_pythons_json_with_sorted_keys(
        data: dict[str, Any], job_id: str, actor: str, version: int, server_request_id: str | None) -> None:
    record = canonical_record(job_id=job_id, version=version, event_type="Upserted",
                              recorded_at="2026-11-28T00:00:00.000000Z", actor=actor, role="writer",
                              request_id="r", server_request_id=server_request_id, data=data, prev_hash="0" * 64)
    assert canonical_bytes(record) == _python_json(record)
    assert ("serverRequestId" in record) is (server_request_id is not None)


def _library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


def _ours() -> EventTranscoder:
    transcoder = EventTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return transcoder


@given(data=st.dictionaries(TEXT, JSON_VALUES, max_size=6), text=TEXT, seconds=st.integers(0, 10**9))
def test_an_event_state_is_stored_as_the_library_stored_it_and_decodes_to_what_it_was(
        data: dict[str, Any], text: str, seconds: int) -> None:
    state = {"timestamp": datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds, microseconds=seconds % 7),
             "job_id": text, "data": data, "actor": text, "hash": "ab" * 32, "originator_topic": "domain.job:Job"}
    encoded = _ours().encode(state)
    assert encoded == _library_transcoder().encode(state)
    assert _ours().decode(encoded) == state


def test_every_event_and_snapshot_of_a_job_round_trips_through_the_store_encoding() -> None:
    at = datetime(2026, 11, 28, 1, 2, 3, 456789, tzinfo=UTC)
    job = Job.create(upsert_request({"jobId": "j-é", "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                                 "jobData": {"stress": {"projectId": {"uuid": "p"}}}}), at, BY)
    job.upsert(upsert_request({"jobId": "j-é", "status": "JOB_STATUS_PENDING"}, {"status": True}), at, BY)
    events = job.collect_events()
    snapshot = Job.Snapshot.take(job)
    for item in [*events, snapshot]:
        state = item.__dict__.copy()
        encoded = _ours().encode(state)
        assert encoded == _library_transcoder().encode(state)
        assert _ours().decode(encoded) == state


def test_a_state_with_a_value_of_another_kind_is_left_to_the_library_encoder() -> None:
    class Tag(str):
        pass

    moment = datetime(2026, 11, 28, tzinfo=UTC)
    # An event's data is not looked into: it is a job document, JSON by construction (a datetime there would be
    # written as plain text). Anything else that is not JSON at the top level goes to the library's encoder.
    for state in ({"id": uuid4(), "tag": Tag("x")}, {"id": uuid4(), "state": {"created_on": moment}},
                  {"data": {"at": moment}, "later": [moment]}):
        assert _ours().encode(state) == _library_transcoder().encode(state)
        assert _ours().decode(_ours().encode(state)) == state


def _problem_char_by_char(job_id: str) -> bool:
    return any(ch == "/" or ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in job_id)


@given(st.text(min_size=1, max_size=128) | st.text(st.characters(max_codepoint=127), min_size=1, max_size=128))
def test_the_quick_job_id_check_agrees_with_the_character_by_character_one(job_id: str) -> None:
    assert (job_id_problem(job_id) is not None) == _problem_char_by_char(job_id)


def test_the_application_stores_its_events_with_this_transcoder(tmp_path: Path) -> None:
    backend = SQLiteBackend(Settings(home=tmp_path))
    jobs = Jobs(env={**event_store_env(backend), "PERSISTENCE_MODULE": "eventsourcing.popo"})
    backend.close()
    try:
        assert isinstance(jobs.mapper.transcoder, EventTranscoder)
        assert jobs.mapper.transcoder.types.keys() == _library_transcoder().types.keys()
    finally:
        jobs.close()


FINITE = st.floats(allow_nan=False, allow_infinity=False)
BODY_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | FINITE | TEXT,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                           max_leaves=20)


@given(BODY_VALUES)
def test_a_response_body_is_the_json_starlette_would_write(body: Any) -> None:
    ours, theirs = JSONResponse(body).body, StarletteJSONResponse(body).body
    assert json.loads(ours) == json.loads(theirs)
    if not any(isinstance(value, float) for value in _leaves(body)):
        assert ours == theirs


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]
