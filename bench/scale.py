"""GetJob and a first list page as the views grow from 10 thousand to 1 million jobs: keyset pages on indexes
that match each list query keep them flat. The FULL view table is filled in bulk with SQL (generate_series):
this figure is about reads at scale, not about how the rows got there."""
from __future__ import annotations

import random
from collections.abc import Callable

import psycopg

from bench.harness import Figure, latencies, median, serving, store
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings

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


ROUNDS = 6
QUERIES = ("GetJob FULL", "first page of a project's jobs", "first page of all jobs")


def paths(jobs: int) -> dict[str, Callable[[int], str]]:
    """Per query, the request paths it times (a random job of `jobs` for GetJob)."""
    rng = random.Random(jobs)
    # Ten jobs a page: at 10,000 jobs a project has ten, so both sizes compare pages of the same length.
    project = f"/v1/jobs/project/project-{rng.randrange(PROJECTS)}?view=JOB_VIEW_FULL&pageSize=10"
    return {"GetJob FULL": lambda i: f"/v1/jobs/job-{rng.randint(1, jobs):07d}?view=JOB_VIEW_FULL",
            "first page of a project's jobs": lambda i: project,
            "first page of all jobs": lambda i: "/v1/jobs?view=JOB_VIEW_FULL"}


def run(settings: Settings, small: int, large: int, requests: int) -> list[Figure]:
    """Two stores, `small` and `large` jobs, each served by its own server; every query is timed on both in
    ROUNDS alternating rounds (the small store first in one round, the large in the next), so that both sizes
    meet the same moments of the machine, and each p50 is taken over all of its rounds' requests."""
    assert settings.database_url is not None, "the scale part runs on PostgreSQL"
    with store("postgres", settings.database_url, settings.home.parent) as small_settings:
        sizes = {small: small_settings, large: settings}
        for jobs, stored in sizes.items():
            open_services(stored).close()  # create the schema
            fill(stored, 1, jobs)
        with serving(small_settings) as small_server, serving(settings) as large_server:
            servers = {small: small_server, large: large_server}
            timed: dict[tuple[int, str], list[float]] = {(jobs, query): [] for jobs in servers for query in QUERIES}
            asked = {jobs: paths(jobs) for jobs in servers}
            per_round = max(1, requests // ROUNDS)
            for server, key in servers.values():
                latencies(server, key, lambda i: "/v1/jobs?view=JOB_VIEW_FULL", 20)
            for round_number in range(ROUNDS):
                order = (small, large) if round_number % 2 == 0 else (large, small)
                for query in QUERIES:
                    for jobs in order:
                        server, key = servers[jobs]
                        timed[jobs, query] += latencies(server, key, asked[jobs][query], per_round)
    figures = []
    for query in QUERIES:
        before, after = median(timed[small, query]), median(timed[large, query])
        figures.append(Figure(f"{query}, p50 at {small:,} jobs (baseline)", before * 1000, "ms"))
        figures.append(Figure(f"{query}, p50 at {large:,} jobs", after * 1000, "ms", before * 1000,
                              "<= 1.5x", after <= 1.5 * before))
    return figures
