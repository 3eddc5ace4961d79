"""The log's Merkle tree (issue 15): what keeping it costs job commands over HTTP (`jobstore serve` with
JOBSTORE_LOG_TREE on and off, side by side, alternating), how fast a log written before the tree existed gets
one, and how long a signed checkpoint and the proofs take over HTTP on a log of a million events while writes go
on (so that most checkpoints sign a new tree size). Catch-up with and without the tree is in bench/catchup.py."""
from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from statistics import median

from bench import http_writes
from bench.catchup import build_log
from bench.harness import Figure, percentile, serving
from bench.writes import COMMANDS_PER_JOB
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from tests.conftest import drop_schema, unique

ROUNDS = 8
BUILD_BATCH = 5000


def commands_rates(settings: Settings, jobs_per_thread: int, rounds: int = ROUNDS) -> tuple[float, float]:
    """Job commands/s over HTTP with the tree kept and without it: two servers, each on a store of its own, both
    running; short rounds alternating between them (which goes first alternating too), the median of each, so
    that both meet the same moments of the machine."""
    second = replace(settings, home=settings.home.with_name(settings.home.name + "-no-tree"),
                     database_schema=f"{settings.database_schema}_no_tree")
    rates: dict[bool, list[float]] = {True: [], False: []}
    try:
        with serving(settings, extra_env={"JOBSTORE_LOG_TREE": "on"}) as with_tree, \
                serving(second, extra_env={"JOBSTORE_LOG_TREE": "off"}) as without:
            servers = {True: with_tree, False: without}
            for server, key in servers.values():  # warm up
                http_writes.http_rate(server.port, key, http_writes.lifecycles(max(1, jobs_per_thread // 4)))
            for round_number in range(rounds):
                for tree in ((True, False) if round_number % 2 == 0 else (False, True)):
                    server, key = servers[tree]
                    rates[tree].append(http_writes.http_rate(server.port, key,
                                                             http_writes.lifecycles(jobs_per_thread)))
    finally:
        if second.database_url:
            drop_schema(second.database_url, second.database_schema)
    return median(rates[True]), median(rates[False])


def tree_build_rate(settings: Settings, events: int) -> tuple[float, int]:
    """The log of `events` events appended as an earlier version wrote it (no tree), then its tree built the
    way the projection worker builds it, batch by batch; then the views caught up. (events/s, head)."""
    services = open_services(settings)
    try:
        build_log(services, events, progress=False)
        log, tree = services.event_log, services.tree
        position, built = tree.position(), 0
        started = time.perf_counter()
        while batch := log.read(position, BUILD_BATCH):
            assert tree.append(batch, position, batch[-1].position)
            position, built = batch[-1].position, built + len(batch)
        rate = built / (time.perf_counter() - started)
        services.engine.catch_up()  # the views too, so that the server below has nothing to project first
        return rate, log.head()
    finally:
        services.close()


def timed(server_port: int, key: str, paths: Callable[[int], str], count: int) -> list[float]:
    """Seconds per GET over one keep-alive connection (bodies are JSON or the checkpoint's text)."""
    conn = http.client.HTTPConnection("127.0.0.1", server_port, timeout=30)
    samples = []
    try:
        for i in range(count):
            path = paths(i)
            started = time.perf_counter()
            conn.request("GET", path, headers={"rime-api-key": key})
            response = conn.getresponse()
            body = response.read()
            samples.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"GET {path} -> {response.status} {body[:300]!r}")
    finally:
        conn.close()
    return samples


class SlowWriter(threading.Thread):
    """A command every `every` seconds, so that the tree grows while checkpoints are asked for."""

    def __init__(self, port: int, key: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.port, self.key, self.every = port, key, every
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            while not self.stop.wait(self.every):
                body = f'{{"job": {{"jobId": "{unique("tree-w")}", "jobType": "JOB_TYPE_FILE_SCAN"}}}}'
                conn.request("POST", "/v1/jobs:upsert", body, {"rime-api-key": self.key,
                                                               "content-type": "application/json"})
                conn.getresponse().read()
                self.written += 1
        finally:
            conn.close()


def run(settings: Settings, jobs: int, log_events: int, requests: int) -> list[Figure]:
    with_tree, without_tree = commands_rates(settings, max(1, jobs // (ROUNDS * http_writes.THREADS)))
    build_rate, head = tree_build_rate(settings, log_events)
    rng = random.Random(15)
    with serving(settings) as (server, key):
        timed(server.port, key, lambda i: "/v1/log/checkpoint", 20)
        writer = SlowWriter(server.port, key)
        writer.start()
        try:
            checkpoints = timed(server.port, key, lambda i: "/v1/log/checkpoint", requests)
            inclusion = timed(server.port, key,
                              lambda i: f"/v1/log/proof/inclusion?position={rng.randint(1, head)}", requests)
            consistency = timed(server.port, key,
                                lambda i: f"/v1/log/proof/consistency?from={rng.randint(1, head)}", requests)
        finally:
            writer.stop.set()
            writer.join(10)
    ms = 1000.0
    label = f"{head:,}-event log"
    figures = [
        Figure(f"job commands over HTTP without the log's Merkle tree, {http_writes.THREADS} threads, median "
               "(baseline)", without_tree, "/s"),
        Figure("job commands over HTTP with the tree kept (as served), median", with_tree, "/s", without_tree,
               ">= 0.95x", with_tree / without_tree >= 0.95),
        Figure(f"building the tree of an existing {label}, events/s", build_rate, "/s"),
        Figure(f"writes during the checkpoint and proof timings ({COMMANDS_PER_JOB} per job elsewhere)",
               writer.written, ""),
    ]
    for name, samples in (("signed checkpoint", checkpoints), ("inclusion proof", inclusion),
                          ("consistency proof", consistency)):
        figures.append(Figure(f"{name} over HTTP, {label}, p50", median(samples) * ms, "ms"))
        p99 = percentile(samples, 0.99) * ms
        figures.append(Figure(f"{name} over HTTP, {label}, p99", p99, "ms", None, "< 20 ms", p99 < 20))
    return figures
