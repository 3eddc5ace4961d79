"""The log's Merkle tree (issue 15): what keeping it costs job commands over HTTP (`jobstore serve` with
JOBSTORE_LOG_TREE on and off, alternating), how fast a log written before the tree existed gets one, and how
long a signed checkpoint and the proofs take over HTTP on a log of a million events while writes go on (so that
most checkpoints sign a new tree size). Projection catch-up with and without the tree is in bench/catchup.py."""
from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Callable
from statistics import median

from bench import http_writes
from bench.catchup import build_log
from bench.harness import Figure, percentile, serving
from bench.writes import COMMANDS_PER_JOB
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings
from tests.conftest import unique

ROUNDS = 3
BUILD_BATCH = 5000


def commands_rate(settings: Settings, tree: bool, jobs_per_thread: int) -> float:
    with serving(settings, extra_env={"JOBSTORE_LOG_TREE": "on" if tree else "off"}) as (server, key):
        http_writes.http_rate(server.port, key, http_writes.lifecycles(max(1, jobs_per_thread // 4)))  # warm up
        return http_writes.http_rate(server.port, key, http_writes.lifecycles(jobs_per_thread))


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
    per_round = max(1, jobs // (ROUNDS * http_writes.THREADS))
    best = {True: 0.0, False: 0.0}
    for round_number in range(ROUNDS):  # alternating which goes first; the best of each
        for tree in ((True, False) if round_number % 2 == 0 else (False, True)):
            best[tree] = max(best[tree], commands_rate(settings, tree, per_round))
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
        Figure(f"job commands over HTTP without the log's Merkle tree, {http_writes.THREADS} threads (baseline)",
               best[False], "/s"),
        Figure("job commands over HTTP with the tree kept (as served)", best[True], "/s", best[False], ">= 0.95x",
               best[True] / best[False] >= 0.95),
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
