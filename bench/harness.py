"""Shared bench plumbing: stores, a real server, keep-alive HTTP timing, and the results table."""
from __future__ import annotations

import http.client
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from jobstore.adapters.settings import Settings
from tests.e2e.server import Server


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def table(figures: list[Figure]) -> str:
    lines = [f"| {'figure':<58} | {'value':>12} | {'baseline':>12} | {'ratio':>7} | {'target':<14} | met |",
             f"| {'-' * 58} | {'-' * 12}: | {'-' * 12}: | {'-' * 7}: | {'-' * 14} | --- |"]
    for f in figures:
        baseline = "" if f.baseline is None else f"{f.baseline:,.2f}"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        met = "" if f.met is None else ("yes" if f.met else "NO")
        value = f"{f.value:>9,.2f} {f.unit:<2}" if f.unit else f"{f.value:>12,.0f}"
        lines.append(f"| {f.name:<58} | {value} | {baseline:>12} | {ratio:>7} | "
                     f"{f.target:<14} | {met:<3} |")
    return "\n".join(lines)


def settle(url: str | None, most_seconds: float) -> str:
    """Let PostgreSQL finish what the parts before left it (dirty buffers, autovacuum of the tables they filled)
    before the next part measures: a CHECKPOINT, then a wait of up to `most_seconds` for autovacuum workers to end.
    A part's baseline that does not touch the database (a health check) would otherwise be measured against a
    figure that shares the cores with that work. Returns what it waited for."""
    if not url:
        return "nothing"
    started = time.monotonic()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        if most_seconds <= 0:
            return "a checkpoint"
        workers = 0
        while time.monotonic() - started < most_seconds:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
                               ).fetchone()
            workers = max(workers, row[0] if row else 0)
            if not row or not row[0]:
                break
            time.sleep(0.5)
    return f"a checkpoint and {workers} autovacuum workers, {time.monotonic() - started:.1f} s"


@contextmanager
def store(backend: str, url: str | None, workdir: Path) -> Iterator[Settings]:
    """An empty store on `backend` (a fresh schema on PostgreSQL), dropped afterwards."""
    home = workdir / f"home-{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        yield Settings(home=home)
        return
    assert url, "PostgreSQL bench needs JOBSTORE_TEST_DATABASE_URL (bench/run starts one)"
    schema = f"b_{uuid.uuid4().hex[:10]}"
    try:
        yield Settings(home=home, database_url=url, database_schema=schema)
    finally:
        for attempt in range(5):
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
                break
            except psycopg.errors.DeadlockDetected:  # a part's last writer (the library's runner thread) is
                time.sleep(1.0)  # still finishing in this schema: let it, then drop
                if attempt == 4:
                    raise


@contextmanager
def serving(settings: Settings, serve_args: tuple[str, ...] = (),
            extra_env: dict[str, str] | None = None) -> Iterator[tuple[Server, str]]:
    server = Server(settings.home, settings.database_url,
                    settings.database_schema if settings.database_url else None, serve_args=serve_args,
                    extra_env=extra_env)
    admin = server.key("admin", f"bench-{uuid.uuid4().hex[:6]}")
    server.start()
    try:
        yield server, admin
    finally:
        server.stop()


def latencies(server: Server, key: str, paths: Callable[[int], str], count: int) -> list[float]:
    """Seconds per GET over one keep-alive connection, for `count` requests."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    samples = []
    try:
        for i in range(count):
            started = time.perf_counter()
            conn.request("GET", paths(i), headers={"rime-api-key": key})
            response = conn.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"GET {paths(i)} -> {response.status} {body[:300]!r}")
            json.loads(body)
    finally:
        conn.close()
    return samples


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
