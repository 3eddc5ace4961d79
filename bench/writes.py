"""Job commands per second through the application service, beside raw psycopg doing the same writes as one
`INSERT ... ON CONFLICT DO UPDATE` of a job row per command, each in its own transaction; the two measured in
alternating rounds."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from bench.harness import Figure
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from jobstore.domain.job import Job, Provenance
from jobstore.domain.requests import UpsertJobRequest, parse_request

BY = Provenance("bench", "writer", "bench")
STATUS = {"status": True}
PROGRESS = {"jobData": {"stress": {"progress": True}}}
COMMANDS_PER_JOB = 9  # create, pending, running, 5 progress reports, succeeded
ROUNDS = 6


def lifecycle_bodies(job_id: str) -> list[dict[str, Any]]:
    """The UpsertJob bodies of a stress test's life, as a client sends them."""
    steps: list[dict[str, Any]] = [{"job": {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                            "jobData": {"stress": {"projectId": {"uuid": "bench"}}}}}]
    steps += [{"job": {"jobId": job_id, "status": s}, "writeMask": STATUS}
              for s in ("JOB_STATUS_PENDING", "JOB_STATUS_RUNNING")]
    for done in range(5):
        batches = [{"type": f"b{i}", "status": "TEST_TASK_STATUS_COMPLETED" if i <= done else
                    "TEST_TASK_STATUS_RUNNING"} for i in range(5)]
        steps.append({"job": {"jobId": job_id, "jobData": {"stress": {"progress": {
            "testRun": {"testRunId": "r", "testBatches": batches}}}}}, "writeMask": PROGRESS})
    steps.append({"job": {"jobId": job_id, "status": "JOB_STATUS_SUCCEEDED"}, "writeMask": STATUS})
    assert len(steps) == COMMANDS_PER_JOB
    return steps


def lifecycle(job_id: str) -> list[UpsertJobRequest]:
    return [parse_request(UpsertJobRequest, body) for body in lifecycle_bodies(job_id)]


class ServiceWriter:
    """Writes job lifecycles through the application service, one command after another."""

    def __init__(self, settings: Settings) -> None:
        self.services = open_services(settings)

    def commands_per_second(self, jobs: int) -> tuple[int, float]:
        plans = [lifecycle(f"w-{uuid.uuid4().hex[:10]}") for _ in range(jobs)]
        started = time.perf_counter()
        for plan in plans:
            for request in plan:
                self.services.jobs.upsert(request, BY)
        return jobs * COMMANDS_PER_JOB, time.perf_counter() - started

    def close(self) -> None:
        self.services.close()


def library_insert_alone(settings: Settings, jobs: int) -> float:
    """The event store's own insert, one pre-built event per transaction (table lock, NOTIFY, INSERT): the
    ceiling for any command that appends one event through the library."""
    services = open_services(settings)
    try:
        stored = []
        for n in range(jobs * COMMANDS_PER_JOB):
            request = parse_request(UpsertJobRequest, {"job": {"jobId": f"lib-{uuid.uuid4().hex[:10]}-{n}",
                                                               "jobType": "JOB_TYPE_IMAGE_BUILDER"}})
            job = Job.create(request, datetime.now(UTC), BY)
            stored.extend(services.jobs.mapper.to_stored_event(e) for e in job.collect_events())
        started = time.perf_counter()
        for event in stored:
            services.jobs.recorder.insert_events([event])
        return len(stored) / (time.perf_counter() - started)
    finally:
        services.close()


class RawWriter:
    """The baseline: one job row per job, one upsert per command, autocommit (one transaction each)."""

    def __init__(self, settings: Settings) -> None:
        self.conn = psycopg.connect(**settings.postgres(), autocommit=True)  # type: ignore[arg-type]
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {settings.database_schema}.raw_jobs "
                          "(job_id TEXT PRIMARY KEY, document JSONB NOT NULL, version INT NOT NULL)")
        self.statement = (f"INSERT INTO {settings.database_schema}.raw_jobs (job_id, document, version) "
                          "VALUES (%s, %s, 1) ON CONFLICT (job_id) DO UPDATE SET "
                          "document = raw_jobs.document || excluded.document, version = raw_jobs.version + 1")

    def commands_per_second(self, jobs: int) -> tuple[int, float]:
        plans = [lifecycle(f"r-{uuid.uuid4().hex[:10]}") for _ in range(jobs)]
        started = time.perf_counter()
        for plan in plans:
            for request in plan:
                self.conn.execute(self.statement, (request.job_id, json.dumps(request.job.wire())), prepare=True)
        return jobs * COMMANDS_PER_JOB, time.perf_counter() - started

    def close(self) -> None:
        self.conn.close()


def interleaved(settings: Settings, jobs: int, rounds: int = ROUNDS) -> tuple[float, float]:
    """Commands/s of the raw baseline and of the service, measured in alternating rounds (raw first in one
    round, the service first in the next), so that both meet the same moments of the machine and the
    database: a checkpoint or a slow spell of the VM falls on both."""
    service = ServiceWriter(settings)  # first: it creates the schema
    try:
        raw = RawWriter(settings)
    except BaseException:
        service.close()
        raise
    try:
        raw.commands_per_second(max(1, jobs // 10))  # warm up both
        service.commands_per_second(max(1, jobs // 10))
        totals = {raw: [0, 0.0], service: [0, 0.0]}
        per_round = max(1, jobs // rounds)
        for round_number in range(rounds):
            for writer in (raw, service) if round_number % 2 == 0 else (service, raw):
                commands, seconds = writer.commands_per_second(per_round)
                totals[writer][0] += commands
                totals[writer][1] += seconds
        return totals[raw][0] / totals[raw][1], totals[service][0] / totals[service][1]
    finally:
        raw.close()
        service.close()


def run(settings: Settings, jobs: int) -> list[Figure]:
    raw, service = interleaved(settings, jobs)
    library = library_insert_alone(settings, jobs)
    return [Figure("raw psycopg upsert per command (baseline), commands/s", raw, "/s"),
            Figure("the library's insert alone, one event per transaction, events/s", library, "/s", raw),
            Figure("job commands/s through the application service, one writer", service, "/s", raw, ">= 0.6x",
                   service / raw >= 0.6)]
