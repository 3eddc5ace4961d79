"""Every route for every kind of caller: the four roles, no key, an unknown key and a revoked key.

The contract: reader may use the read routes; writer the read routes and every write route; auditor the read
routes and the audit routes (the contract names none; those that /openapi.json tags Audit are checked); admin
everything. No key or an unknown (or revoked) key is
UNAUTHENTICATED (16, HTTP 401); a key without the role is PERMISSION_DENIED (7, HTTP 403).
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Reply, Server, ok, upsert

STRESS, IMAGE = "JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_IMAGE_BUILDER"
PENDING, RUNNING, SUCCEEDED = "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_SUCCEEDED"
GENERIC = "TERMINATION_REASON_GENERIC_ERROR"

READ_ROUTES = ("get_job", "list_jobs_for_project", "list_jobs", "get_project_id", "get_test_run_id")
WRITE_ROUTES = ("upsert_job", "fail_job", "cancel_job", "finalize_cancellation")
ROLES = ("reader", "writer", "auditor", "admin")
NOT_KEYS = ("no_key", "unknown_key", "revoked_key", "wrong_secret", "empty_key")
ALLOWED = {
    "reader": set(READ_ROUTES),
    "writer": set(READ_ROUTES) | set(WRITE_ROUTES),
    "auditor": set(READ_ROUTES),
    "admin": set(READ_ROUTES) | set(WRITE_ROUTES),
}


@dataclass
class World:
    server: Server
    keys: Keys
    callers: dict[str, str | None]
    done_job: str
    project: str

    def fresh_job(self, cancel_requested: bool = False) -> str:
        job_id = unique("target")
        ok(upsert(self.server, self.keys.admin, {"jobId": job_id, "jobType": IMAGE, "status": PENDING}))
        if cancel_requested:
            ok(self.server.call("POST", f"/v1/jobs/cancel/{job_id}", key=self.keys.admin))
        return job_id

    def current(self, job_id: str) -> Reply:
        """The job as the write side has it now (an upsert with no mask bit writes nothing)."""
        return upsert(self.server, self.keys.admin, {"jobId": job_id})


@pytest.fixture(scope="module")
def world(server: Server, keys: Keys) -> World:
    project, done = unique("project"), unique("done")
    ok(upsert(server, keys.admin, {"jobId": done, "jobType": STRESS, "status": PENDING,
                                   "jobData": {"stress": {"projectId": {"uuid": project}, "testRunId": "run-1"}}}))
    for status in (RUNNING, SUCCEEDED):
        ok(upsert(server, keys.admin, {"jobId": done, "status": status}, {"status": True}))
    seen = server.eventually(f"/v1/jobs/{done}/test-run-id", keys.admin, lambda r: r.status == 200)
    assert seen.body == {"testRunId": "run-1"}

    revoked_name = unique("revoked")
    revoked = server.key("admin", revoked_name)
    ok(server.call("GET", "/v1/jobs?pageSize=1", key=revoked))
    done_revoke = server.cli("keys", "revoke", revoked_name)
    assert done_revoke.returncode == 0, done_revoke.stderr

    key_id = keys.admin.split("_")[1]
    callers: dict[str, str | None] = {
        "reader": keys.reader, "writer": keys.writer, "auditor": keys.auditor, "admin": keys.admin,
        "no_key": None,
        "unknown_key": f"jsk_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}",
        "revoked_key": revoked,
        "wrong_secret": f"jsk_{key_id}_{secrets.token_urlsafe(32)}",
        "empty_key": "",
    }
    return World(server, keys, callers, done, project)


def call_route(world: World, route: str, key: str | None) -> tuple[Reply, Callable[[], None]]:
    """Call `route` with `key` on a job where the call is allowed; returns the reply and a check that a refused
    call changed nothing."""
    server = world.server
    headers = {"rime-api-key": key} if key == "" else None

    def call(method: str, path: str, body: Any = None) -> Reply:
        return server.call(method, path, body, key=key or None, headers=headers)

    def nothing() -> None:
        return None

    if route in READ_ROUTES:
        path = {"get_job": f"/v1/jobs/{world.done_job}?view=JOB_VIEW_FULL",
                "list_jobs_for_project": f"/v1/jobs/project/{world.project}",
                "list_jobs": f"/v1/jobs?firstPageQuery.selectedTypes={STRESS}&pageSize=5",
                "get_project_id": f"/v1/jobs/{world.done_job}/project-id",
                "get_test_run_id": f"/v1/jobs/{world.done_job}/test-run-id"}[route]
        return call("GET", path), nothing

    if route == "upsert_job":
        job_id = unique("created")
        reply = call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": IMAGE}})

        def not_created() -> None:
            absent = world.current(job_id)
            assert absent.status == 400 and absent.body["code"] == 3, "a refused upsert created the job"
        return reply, not_created

    job_id = world.fresh_job(cancel_requested=route == "finalize_cancellation")
    before = world.current(job_id).body["job"]
    path, body = {"fail_job": (f"/v1/jobs/{job_id}:fail", {"terminationReason": GENERIC, "errorMsg": "x"}),
                  "cancel_job": (f"/v1/jobs/cancel/{job_id}", None),
                  "finalize_cancellation": (f"/v1/jobs/{job_id}:finalizeCancellation", None)}[route]
    reply = call("POST", path, body)

    def unchanged() -> None:
        after = world.current(job_id)
        assert after.status == 200 and "x-jobstore-position" not in after.headers
        assert {k: v for k, v in after.body["job"].items() if k != "runningTimeSecs"} == \
            {k: v for k, v in before.items() if k != "runningTimeSecs"}, "a refused write changed the job"
    return reply, unchanged


def refused(reply: Reply, code: int, http_status: int) -> None:
    assert (reply.status, reply.body.get("code")) == (http_status, code), (reply.status, reply.body)
    assert set(reply.body) == {"code", "message", "details"} and reply.body["details"] == []
    assert reply.body["message"]
    assert "x-jobstore-position" not in reply.headers


@pytest.mark.parametrize("route", READ_ROUTES + WRITE_ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_use_exactly_the_routes_the_contract_gives_it(world: World, role: str, route: str) -> None:
    reply, stored_nothing = call_route(world, route, world.callers[role])
    if route in ALLOWED[role]:
        assert 200 <= reply.status < 300, (role, route, reply.status, reply.body)
    else:
        refused(reply, 7, 403)
        stored_nothing()


@pytest.mark.parametrize("route", READ_ROUTES + WRITE_ROUTES)
@pytest.mark.parametrize("caller", NOT_KEYS)
def test_a_caller_without_a_valid_key_is_unauthenticated_on_every_route(
        world: World, caller: str, route: str) -> None:
    reply, stored_nothing = call_route(world, route, world.callers[caller])
    refused(reply, 16, 401)
    stored_nothing()


def audit_routes(world: World) -> list[str]:
    """The GET routes that /openapi.json tags Audit, with {jobId} filled in (the contract names none yet) and
    each required query parameter (a position or a tree size) set to 1: the log's first event."""
    spec = ok(world.server.call("GET", "/openapi.json")).body
    routes = []
    for path, operations in spec["paths"].items():
        operation = operations.get("get", {})
        if "Audit" not in operation.get("tags", []):
            continue
        required = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p["required"]]
        routes.append(path.replace("{jobId}", world.done_job) + ("?" + "&".join(f"{name}=1" for name in required)
                                                                  if required else ""))
    return sorted(routes)


@pytest.mark.parametrize("caller", ROLES + NOT_KEYS)
def test_audit_routes_are_for_auditor_and_admin_keys_only(world: World, caller: str) -> None:
    routes = audit_routes(world)
    if not routes:
        pytest.skip("the service has no audit routes yet")
    key = world.callers[caller]
    headers = {"rime-api-key": ""} if key == "" else None
    for path in routes:
        reply = world.server.call("GET", path, key=key or None, headers=headers)
        if caller in ("auditor", "admin"):
            assert 200 <= reply.status < 300, (caller, path, reply.status, reply.body)
        elif caller in ROLES:
            refused(reply, 7, 403)
        else:
            refused(reply, 16, 401)


def test_revoking_a_key_takes_effect_at_once_and_spares_the_other_keys(server: Server, keys: Keys) -> None:
    name = unique("ci-agent")
    key = server.key("writer", name)
    job_id = unique("revocation")
    ok(upsert(server, key, {"jobId": job_id, "jobType": IMAGE}))
    ok(server.call("GET", "/v1/jobs?pageSize=1", key=key))
    done = server.cli("keys", "revoke", name)
    assert done.returncode == 0, done.stderr
    refused(server.call("GET", "/v1/jobs?pageSize=1", key=key), 16, 401)
    refused(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=key), 16, 401)
    assert ok(upsert(server, keys.admin, {"jobId": job_id})).body["job"]["cancellationRequested"] is False
    ok(server.call("GET", "/v1/jobs?pageSize=1", key=keys.writer))
    ok(server.call("POST", f"/v1/jobs/cancel/{job_id}", key=keys.writer))


def test_a_key_name_cannot_be_used_as_a_key_and_a_revoked_name_stays_revoked(server: Server, keys: Keys) -> None:
    name = unique("named")
    key = server.key("admin", name)
    refused(server.call("GET", "/v1/jobs", key=name), 16, 401)
    assert server.cli("keys", "revoke", name).returncode == 0
    again = server.cli("keys", "revoke", name)
    assert again.returncode != 0
    refused(server.call("GET", "/v1/jobs", key=key), 16, 401)


def test_the_key_header_name_is_case_insensitive(server: Server, keys: Keys) -> None:
    reply = server.call("GET", "/v1/jobs?pageSize=1", headers={"RIME-API-KEY": keys.reader})
    assert reply.status == 200, reply.body


def test_a_key_sent_in_another_header_is_not_a_key(server: Server, keys: Keys) -> None:
    for header in ("Authorization", "X-Api-Key", "X-Firewall-Auth-Token"):
        value = f"Bearer {keys.admin}" if header == "Authorization" else keys.admin
        refused(server.call("GET", "/v1/jobs?pageSize=1", headers={header: value}), 16, 401)


def test_a_bad_key_is_unauthenticated_even_on_a_route_for_a_missing_job(server: Server, keys: Keys) -> None:
    missing = unique("missing")
    refused(server.call("GET", f"/v1/jobs/{missing}", key="jsk_nope_nope"), 16, 401)
    refused(server.call("POST", f"/v1/jobs/{missing}:finalizeCancellation", key=None), 16, 401)
    refused(server.call("POST", f"/v1/jobs/{missing}:finalizeCancellation", key=keys.reader), 7, 403)
    refused(server.call("POST", f"/v1/jobs/{missing}:finalizeCancellation", key=keys.auditor), 7, 403)


def test_healthz_needs_no_key(server: Server) -> None:
    assert server.call("GET", "/healthz").status == 200
