"""Job commands over HTTP and over gRPC as clients see them: job lifecycles (UpsertJob) from 8 client threads
(Python, keep-alive connections, on the same machine) and from 8 gRPC callers on one channel against one
`jobstore serve`, beside raw psycopg doing the same writes from 8 threads as one single-row upsert transaction per
command; the three measured in alternating rounds."""
from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections.abc import Callable

import psycopg

from bench import grpc_load
from bench.harness import Figure, serving
from bench.writes import COMMANDS_PER_JOB, lifecycle_bodies
from jobstore.adapters.settings import Settings

THREADS = 8
ROUNDS = 6


def in_threads(work: Callable[[int], None]) -> float:
    """Seconds for THREADS threads to each run `work(thread number)`, started together."""
    ready = threading.Barrier(THREADS + 1)
    failures: list[BaseException] = []

    def run(number: int) -> None:
        ready.wait()
        try:
            work(number)
        except BaseException as error:  # noqa: BLE001 - reported below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return time.perf_counter() - started


def http_rate(port: int, key: str, requests: list[list[tuple[str, str, bytes | None]]]) -> float:
    """Requests/s of (method, path, body) lists, one list per client thread, each on its own connection."""
    headers = {"rime-api-key": key, "content-type": "application/json"}

    def work(number: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for method, path, body in requests[number]:
                conn.request(method, path, body, headers)
                response = conn.getresponse()
                answer = response.read()
                if response.status != 200:
                    raise RuntimeError(f"{method} {path} -> {response.status} {answer[:300]!r}")
        finally:
            conn.close()

    return sum(map(len, requests)) / in_threads(work)


def lifecycles(jobs_per_thread: int) -> list[list[tuple[str, str, bytes | None]]]:
    return [[("POST", "/v1/jobs:upsert", json.dumps(body).encode()) for n in range(jobs_per_thread)
             for body in lifecycle_bodies(f"h-{uuid.uuid4().hex[:10]}-{n}")] for _ in range(THREADS)]


def grpc_lifecycles(jobs_per_caller: int) -> list[list[bytes]]:
    return [[grpc_load.upsert_request(body) for n in range(jobs_per_caller)
             for body in lifecycle_bodies(f"g-{uuid.uuid4().hex[:10]}-{n}")] for _ in range(THREADS)]


def health_checks(count_per_thread: int) -> list[list[tuple[str, str, bytes | None]]]:
    return [[("GET", "/healthz", None)] * count_per_thread for _ in range(THREADS)]


def raw_rate(settings: Settings, jobs_per_thread: int) -> float:
    table = f"{settings.database_schema}.raw_http_jobs"
    statement = (f"INSERT INTO {table} (job_id, document, version) VALUES (%s, %s, 1) ON CONFLICT (job_id) "
                 f"DO UPDATE SET document = {table}.document || excluded.document, version = {table}.version + 1")
    with psycopg.connect(**settings.postgres(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (job_id TEXT PRIMARY KEY, document JSONB NOT NULL, "
                     "version INT NOT NULL)")
    plans = [[(body["job"]["jobId"], json.dumps(body["job"])) for n in range(jobs_per_thread)
              for body in lifecycle_bodies(f"r-{uuid.uuid4().hex[:10]}-{n}")] for _ in range(THREADS)]
    connections = [psycopg.connect(**settings.postgres(), autocommit=True)  # type: ignore[arg-type]
                   for _ in range(THREADS)]

    def work(number: int) -> None:
        for values in plans[number]:
            connections[number].execute(statement, values, prepare=True)

    try:
        return THREADS * jobs_per_thread * COMMANDS_PER_JOB / in_threads(work)
    finally:
        for conn in connections:
            conn.close()


def run(settings: Settings, jobs: int) -> list[Figure]:
    per_round = max(1, jobs // (ROUNDS * THREADS))
    rates: dict[str, list[float]] = {"raw": [], "http": [], "grpc": []}
    with serving(settings) as (server, key):

        def measure(part: str, jobs_each: int) -> float:
            if part == "raw":
                return raw_rate(settings, jobs_each)
            if part == "http":
                return http_rate(server.port, key, lifecycles(jobs_each))
            return grpc_load.in_sequence(server.grpc_target, key, grpc_load.UPSERT_JOB, grpc_lifecycles(jobs_each))

        parts = list(rates)
        for part in parts:  # warm up
            measure(part, max(1, per_round // 4))
        for round_number in range(ROUNDS):  # alternating: each round starts one part later
            for part in parts[round_number % 3:] + parts[:round_number % 3]:
                rates[part].append(measure(part, per_round))
        health = http_rate(server.port, key, health_checks(per_round * COMMANDS_PER_JOB))
    # Each part's figure is its total over its rounds (commands over seconds), as in the writes part: the best of
    # a few rounds followed the machine's luckiest seconds, which moved the gRPC row by more than it measures.
    raw, service, over_grpc = (len(rates[part]) / sum(1 / rate for rate in rates[part]) for part in parts)
    return [Figure(f"raw psycopg upsert per command, {THREADS} threads (baseline), commands/s", raw, "/s"),
            Figure(f"job commands over HTTP, {THREADS} client threads, commands/s", service, "/s", raw, ">= 0.5x",
                   service / raw >= 0.5),
            Figure(f"the ceiling: health checks (no database) from the same {THREADS} client threads, requests/s",
                   health, "/s", raw),
            Figure(f"job commands over gRPC, {THREADS} callers on one channel, commands/s (vs raw)", over_grpc, "/s",
                   raw),
            Figure("job commands over gRPC, commands/s (vs job commands over HTTP)", over_grpc, "/s", service,
                   ">= 1x", over_grpc >= service)]
