"""Idempotency-Key on every write route: a retry with the same key and the same request gets the first response
back and appends nothing; the same key with another request is ALREADY_EXISTS (409, code 6). Keys are per API
key and live in the database, so they hold across concurrent retries and across a restart of the server."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier
from typing import Any

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys, StoreLocation
from tests.e2e.server import Reply, Server, ok

IMAGE = "JOB_TYPE_IMAGE_BUILDER"
PENDING, RUNNING = "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"
GENERIC = "TERMINATION_REASON_GENERIC_ERROR"
REPLAYED = "idempotent-replayed"


def with_key(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def new_job(server: Server, writer: str, status: str | None = None) -> str:
    job_id = unique("idem")
    ok(server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE,
                                                       **({"status": status} if status else {})}}, key=writer))
    return job_id


def event_types(server: Server, auditor: str, job_id: str) -> list[str]:
    reply = ok(server.call("GET", f"/v1/jobs/{job_id}/events", key=auditor))
    return [e["type"] for e in reply.body["events"]]


def to_pending(job_id: str) -> dict[str, Any]:
    return {"job": {"jobId": job_id, "status": PENDING}, "writeMask": {"status": True}}


def same_response(first: Reply, again: Reply) -> None:
    assert (again.status, again.body) == (first.status, first.body)
    assert again.headers.get(REPLAYED) == "true", again.headers
    assert REPLAYED not in first.headers, "the first response says it was replayed"


# --- one retry


def test_a_retry_with_the_same_key_and_body_returns_the_first_response_and_appends_nothing(
        server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    first = ok(server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key(key)))
    again = server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key(key))
    same_response(first, again)
    assert again.headers.get("x-jobstore-position") == first.headers["x-jobstore-position"]
    assert event_types(server, keys.auditor, job_id) == ["Created", "Upserted"]


def test_a_retried_create_returns_the_first_response_even_after_the_job_moved_on(
        server: Server, keys: Keys) -> None:
    job_id, key = unique("idem"), unique("idem-key")
    create = {"job": {"jobId": job_id, "jobType": IMAGE}}
    first = ok(server.call("POST", "/v1/jobs:upsert", create, key=keys.writer, headers=with_key(key)))
    ok(server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer))
    again = server.call("POST", "/v1/jobs:upsert", create, key=keys.writer, headers=with_key(key))
    same_response(first, again)
    assert again.body["job"]["status"] == "JOB_STATUS_REQUESTED"  # what the first call saw, not the job now
    assert event_types(server, keys.auditor, job_id) == ["Created", "Upserted"]


def prepared(server: Server, writer: str, route: str) -> tuple[str, str, Any]:
    """A job ready for `route`, and the route's path and body."""
    if route == "upsert":
        job_id = new_job(server, writer)
        return job_id, "/v1/jobs:upsert", to_pending(job_id)
    if route == "fail":
        job_id = new_job(server, writer)
        return job_id, f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "errorMsg": "disk full"}
    if route == "cancel":
        job_id = new_job(server, writer)
        return job_id, f"/v1/jobs/cancel/{job_id}", None
    job_id = new_job(server, writer)
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=writer))
    return job_id, f"/v1/jobs/{job_id}:finalizeCancellation", None


@pytest.mark.parametrize("route", ["upsert", "fail", "cancel", "finalize"])
def test_every_write_route_replays_a_retry_with_the_same_key_and_appends_one_event(
        server: Server, keys: Keys, route: str) -> None:
    job_id, path, body = prepared(server, keys.writer, route)
    before = event_types(server, keys.auditor, job_id)
    key = unique("idem-key")
    first = ok(server.call("POST", path, body, key=keys.writer, headers=with_key(key)))
    after_first = event_types(server, keys.auditor, job_id)
    assert len(after_first) == len(before) + 1
    for _ in range(2):
        same_response(first, server.call("POST", path, body, key=keys.writer, headers=with_key(key)))
    assert event_types(server, keys.auditor, job_id) == after_first


def test_a_retry_whose_json_differs_only_in_spacing_and_key_order_is_the_same_request(
        server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    compact = json.dumps(to_pending(job_id), separators=(",", ":")).encode()
    spaced = json.dumps({"writeMask": {"status": True}, "job": {"status": PENDING, "jobId": job_id}},
                        indent=3).encode()
    first = ok(server.call("POST", "/v1/jobs:upsert", raw=compact, key=keys.writer, headers=with_key(key)))
    same_response(first, server.call("POST", "/v1/jobs:upsert", raw=spaced, key=keys.writer, headers=with_key(key)))
    assert event_types(server, keys.auditor, job_id) == ["Created", "Upserted"]


# --- the same key for something else


def test_the_same_key_with_a_different_body_is_already_exists_and_appends_nothing(
        server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    ok(server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key(key)))
    other = {"job": {"jobId": job_id, "agentId": {"uuid": "agent-2"}}, "writeMask": {"agentId": True}}
    clash = server.call("POST", "/v1/jobs:upsert", other, key=keys.writer, headers=with_key(key))
    assert (clash.status, clash.body.get("code")) == (409, 6), clash.body
    assert key in clash.body["message"]
    assert event_types(server, keys.auditor, job_id) == ["Created", "Upserted"]
    job = ok(server.call("GET", f"/v1/jobs/{job_id}", key=keys.reader)).body["job"]
    assert "agentId" not in job


@pytest.mark.parametrize("elsewhere", ["another route on the same job", "the same route on another job"])
def test_the_same_key_on_another_route_or_job_is_already_exists(server: Server, keys: Keys, elsewhere: str) -> None:
    job_id, other_job, key = new_job(server, keys.writer), new_job(server, keys.writer), unique("idem-key")
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer, headers=with_key(key)))
    path = f"/v1/jobs/{job_id}:finalizeCancellation" if elsewhere.startswith("another route") \
        else f"/v1/jobs/cancel/{other_job}"
    clash = server.call("POST", path, key=keys.writer, headers=with_key(key))
    assert (clash.status, clash.body.get("code")) == (409, 6), clash.body
    assert event_types(server, keys.auditor, job_id) == ["Created", "CancellationRequested"]
    assert event_types(server, keys.auditor, other_job) == ["Created"]


def test_idempotency_keys_are_scoped_per_api_key(server: Server, keys: Keys) -> None:
    second_writer = server.key("writer", unique("idem-writer"))
    key = unique("idem-key")
    first_job, second_job = new_job(server, keys.writer), new_job(server, keys.writer)
    one = ok(server.call("POST", "/v1/jobs:upsert", to_pending(first_job), key=keys.writer, headers=with_key(key)))
    # another API key, the same Idempotency-Key, another request: it runs, it is no clash and no replay
    two = ok(server.call("POST", "/v1/jobs:upsert", to_pending(second_job), key=second_writer, headers=with_key(key)))
    assert REPLAYED not in one.headers and REPLAYED not in two.headers
    assert two.body["job"]["jobId"] == second_job and two.body["job"]["status"] == PENDING
    assert event_types(server, keys.auditor, first_job) == ["Created", "Upserted"]
    assert event_types(server, keys.auditor, second_job) == ["Created", "Upserted"]
    # and with the very same request, the other key's call is its own first call, not a replay of the first key's
    third_job = new_job(server, keys.writer)
    change = {"job": {"jobId": third_job, "agentId": {"uuid": "a-1"}}, "writeMask": {"agentId": True}}
    ok(server.call("POST", "/v1/jobs:upsert", change, key=keys.writer, headers=with_key(key + "-same")))
    mine = ok(server.call("POST", "/v1/jobs:upsert", change, key=second_writer, headers=with_key(key + "-same")))
    assert REPLAYED not in mine.headers


def test_concurrent_retries_with_one_key_append_one_event_and_all_get_the_same_response(
        server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer, PENDING), unique("idem-key")
    body = {"job": {"jobId": job_id, "status": RUNNING, "agentId": {"uuid": "agent-race"}},
            "writeMask": {"status": True, "agentId": True}}
    start = Barrier(8)

    def attempt(_: int) -> Reply:
        start.wait()
        return server.call("POST", "/v1/jobs:upsert", body, key=keys.writer, headers=with_key(key))

    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(attempt, range(8)))
    assert [r.status for r in replies] == [200] * 8, [(r.status, r.body) for r in replies]
    assert len({json.dumps(r.body, sort_keys=True) for r in replies}) == 1, [r.body for r in replies]
    assert sum(1 for r in replies if r.headers.get(REPLAYED) != "true") == 1
    assert len({r.headers.get("x-jobstore-position") for r in replies}) == 1
    assert event_types(server, keys.auditor, job_id) == ["Created", "Upserted"]


def test_a_first_response_that_was_an_error_is_replayed_as_that_error(server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    path = f"/v1/jobs/{job_id}:finalizeCancellation"
    first = server.call("POST", path, key=keys.writer, headers=with_key(key))
    assert (first.status, first.body.get("code")) == (400, 9), first.body
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))  # now finalizing would succeed...
    again = server.call("POST", path, key=keys.writer, headers=with_key(key))
    same_response(first, again)  # ...but the retry gets the first answer back
    assert event_types(server, keys.auditor, job_id) == ["Created", "CancellationRequested"]
    job = ok(server.call("GET", f"/v1/jobs/{job_id}", key=keys.reader)).body["job"]
    assert job["status"] == "JOB_STATUS_REQUESTED"


def test_an_invalid_request_is_replayed_as_the_same_invalid_argument(server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    body = {"job": {"jobId": job_id, "status": "JOB_STATUS_NOPE"}, "writeMask": {"status": True}}
    first = server.call("POST", "/v1/jobs:upsert", body, key=keys.writer, headers=with_key(key))
    assert (first.status, first.body.get("code")) == (400, 3), first.body
    same_response(first, server.call("POST", "/v1/jobs:upsert", body, key=keys.writer, headers=with_key(key)))


@pytest.mark.parametrize("length", [256, 1000])
def test_an_idempotency_key_longer_than_255_characters_is_invalid(server: Server, keys: Keys, length: int) -> None:
    job_id = new_job(server, keys.writer)
    reply = server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key("k" * length))
    assert (reply.status, reply.body.get("code")) == (400, 3), reply.body
    assert "Idempotency-Key" in reply.body["message"]
    assert event_types(server, keys.auditor, job_id) == ["Created"]


def test_an_idempotency_key_of_255_characters_is_accepted(server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), ("k" * 243 + uuid.uuid4().hex[:12])
    assert len(key) == 255
    first = ok(server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key(key)))
    same_response(first, server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer,
                                     headers=with_key(key)))


def test_a_key_without_the_write_role_is_refused_and_leaves_the_idempotency_key_unused(
        server: Server, keys: Keys) -> None:
    job_id, key = new_job(server, keys.writer), unique("idem-key")
    denied = server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.reader, headers=with_key(key))
    assert (denied.status, denied.body.get("code")) == (403, 7), denied.body
    ran = ok(server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=keys.writer, headers=with_key(key)))
    assert REPLAYED not in ran.headers and ran.body["job"]["status"] == PENDING


# --- across a restart


@pytest.fixture
def own_server(store: StoreLocation, tmp_path: Path) -> Iterator[Callable[[], Server]]:
    """Servers on one store of their own (same home, same schema), started one after another."""
    url, schema = store
    started: list[Server] = []

    def start() -> Server:
        server = Server(tmp_path / "home", url, schema).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_an_idempotency_key_survives_a_restart_of_the_server(own_server: Callable[[], Server]) -> None:
    first_server = own_server()
    writer, auditor = first_server.key("writer"), first_server.key("auditor")
    job_id, key = new_job(first_server, writer), unique("idem-key")
    first = ok(first_server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=writer, headers=with_key(key)))
    first_server.stop()

    second_server = own_server()
    again = second_server.call("POST", "/v1/jobs:upsert", to_pending(job_id), key=writer, headers=with_key(key))
    same_response(first, again)
    assert event_types(second_server, auditor, job_id) == ["Created", "Upserted"]
    clash = second_server.call("POST", f"/v1/jobs/cancel/{job_id}", key=writer, headers=with_key(key))
    assert (clash.status, clash.body.get("code")) == (409, 6), clash.body
