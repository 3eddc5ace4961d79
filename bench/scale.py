"""GetJob and a first list page as the views grow from 10 thousand to 1 million jobs: keyset pages on indexes
that match each list query keep them flat. The FULL view table is filled in bulk with SQL (generate_series):
this figure is about reads at scale, not about how the rows got there."""
from __future__ import annotations

import random

import psycopg

from bench.harness import Figure, latencies, median, serving
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from tests.e2e.server import Server

PROJECTS = 1000


def fill(settings: Settings, first: int, last: int) -> None:
    """Jobs first..last in the FULL view, spread over PROJECTS projects, one second apart."""
    created = ("to_char(timestamp '2026-01-01' + g * interval '1 second', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    job_id = "'job-' || lpad(g::text, 7, '0')"
    project = f"'project-' || (g % {PROJECTS})"
    with psycopg.connect(**settings.postgres(), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f"SET search_path TO {settings.database_schema}")
        conn.execute(
            "INSERT INTO job_view_full (stream_id, job_id, job_type, status, project_id, agent_id, creation_time, "
            "document, version, position) "
            f"SELECT 'stream-' || g, {job_id}, 'JOB_TYPE_MODEL_STRESS_TEST', 'JOB_STATUS_RUNNING', {project}, "
            f"'agent-' || (g % 50), {created}, "
            f"json_build_object('jobId', {job_id}, 'jobType', 'JOB_TYPE_MODEL_STRESS_TEST', 'status', "
            f"'JOB_STATUS_RUNNING', 'creationTime', {created}, 'cancellationRequested', false, 'jobData', "
            f"json_build_object('stress', json_build_object('projectId', json_build_object('uuid', {project}), "
            "'testRunId', 'run-' || g)))::text, 1, g "
            f"FROM generate_series({first}, {last}) AS g")
        conn.execute("ANALYZE job_view_full")


def measure(server: Server, key: str, jobs: int, requests: int) -> dict[str, float]:
    rng = random.Random(jobs)
    # Ten jobs a page: at 10,000 jobs a project has ten, so both sizes compare pages of the same length.
    project = f"/v1/jobs/project/project-{rng.randrange(PROJECTS)}?view=JOB_VIEW_FULL&pageSize=10"
    return {
        "GetJob FULL": median(latencies(
            server, key, lambda i: f"/v1/jobs/job-{rng.randint(1, jobs):07d}?view=JOB_VIEW_FULL", requests)),
        "first page of a project's jobs": median(latencies(server, key, lambda i: project, requests)),
        "first page of all jobs": median(latencies(server, key, lambda i: "/v1/jobs?view=JOB_VIEW_FULL", requests)),
    }


def run(settings: Settings, small: int, large: int, requests: int) -> list[Figure]:
    open_services(settings).close()  # create the schema
    fill(settings, 1, small)
    with serving(settings) as (server, key):
        latencies(server, key, lambda i: "/v1/jobs?view=JOB_VIEW_FULL", 20)
        before = measure(server, key, small, requests)
    fill(settings, small + 1, large)
    with serving(settings) as (server, key):
        latencies(server, key, lambda i: "/v1/jobs?view=JOB_VIEW_FULL", 20)
        after = measure(server, key, large, requests)
    figures = []
    for name in before:
        figures.append(Figure(f"{name}, p50 at {small:,} jobs (baseline)", before[name] * 1000, "ms"))
        figures.append(Figure(f"{name}, p50 at {large:,} jobs", after[name] * 1000, "ms", before[name] * 1000,
                              "<= 1.5x", after[name] <= 1.5 * before[name]))
    return figures
