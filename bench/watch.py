"""Watches at scale: 1,000 concurrent watchers on one `jobstore serve`, most following one job each and a few
following every job of a type, while one client writes at half the maximum rate. Measured: the delay from a
write's acknowledgement to its change reaching the watcher of its job (and the watchers of every job), the
maximum write rate with the watchers connected against without them, and the server's memory per watcher."""
from __future__ import annotations

import asyncio
import resource
import threading
import time
from pathlib import Path

from bench.harness import Figure, percentile, serving
from bench.lag import Client, max_write_rate
from jobstore.adapters.settings import Settings

TYPE = "JOB_TYPE_FILE_SCAN"  # the jobs written here; the others are image builds, which nobody watches
BROAD_WATCHERS = 10  # each follows every job of TYPE


class Watchers:
    """`count` SSE watches from one asyncio loop in a thread: `count - BROAD_WATCHERS` of one job each (job
    w-0, w-1, ...) and BROAD_WATCHERS of every job of TYPE; when each job's change arrived, by kind of watcher."""

    def __init__(self, port: int, key: str, count: int) -> None:
        self.port, self.key, self.count = port, key, count
        self.arrived: dict[str, float] = {}  # job id -> at its own watcher
        self.broad: dict[str, list[float]] = {}  # job id -> at each broad watcher
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Watchers:
        self._thread.start()
        if not self.connected.wait(120):
            raise RuntimeError("the watchers did not all connect within 120 s")
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _run(self) -> None:
        queries = [f"jobId=w-{n}" for n in range(self.count - BROAD_WATCHERS)]
        queries += [f"firstPageQuery.selectedTypes={TYPE}"] * BROAD_WATCHERS
        streams = []
        for start in range(0, len(queries), 100):
            streams += await asyncio.gather(*(self._open(query) for query in queries[start:start + 100]))
        self.connected.set()
        readers = [asyncio.ensure_future(self._read(reader, query.startswith("jobId"))) for (reader, _), query
                   in zip(streams, queries, strict=True)]
        while not self._stop.is_set():
            await asyncio.sleep(0.1)
        for task in readers:
            task.cancel()

    async def _open(self, query: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A watch's connection (the writer is kept: a writer collected as garbage closes its connection)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET /v1/jobs:watch?{query} HTTP/1.1\r\nHost: bench\r\nrime-api-key: {self.key}\r\n"
                     "Accept: text/event-stream\r\n\r\n".encode())
        await writer.drain()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # the answer's headers
        return reader, writer

    async def _read(self, reader: asyncio.StreamReader, own_job: bool) -> None:
        marker = b'"jobId":"'
        while True:
            line = await reader.readline()
            if not line:
                return
            at = line.find(marker)
            if at < 0:
                continue
            job_id = line[at + len(marker):line.index(b'"', at + len(marker))].decode()
            if own_job:
                self.arrived.setdefault(job_id, time.monotonic())
            else:
                self.broad.setdefault(job_id, []).append(time.monotonic())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def run(settings: Settings, watchers: int, seconds: float) -> list[Figure]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # the server inherits it: a socket per watcher
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * watchers + 1024)), hard))
    env = {"JOBSTORE_HTTP_MAX_CONNECTIONS": str(2 * watchers + 100)}
    with serving(settings, extra_env=env) as (server, key):
        assert server.process is not None
        client = Client(server.port, key)
        max_write_rate(client, 1.0, "warm-up")
        without = [max_write_rate(client, seconds, "without-watches-before")]
        before = rss_kib(server.process.pid)
        watching = Watchers(server.port, key, watchers).start()
        try:
            time.sleep(1.0)
            memory = (rss_kib(server.process.pid) - before) / watchers
            with_watchers = max_write_rate(client, seconds, "with-watches")
            interval = 2.0 / without[0]  # half the maximum rate
            acknowledged: dict[str, float] = {}
            for n in range(watchers - BROAD_WATCHERS):
                due = time.perf_counter() + interval
                job_id = f"w-{n}"
                status, _, body = client.call("POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": TYPE}})
                acknowledged[job_id] = time.monotonic()
                assert status == 200, body
                time.sleep(max(0.0, due - time.perf_counter()))
            deadline = time.monotonic() + 30
            while len(watching.arrived) < len(acknowledged) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            watching.stop()
        time.sleep(1.0)  # the server has seen the watches go
        without.append(max_write_rate(client, seconds, "without-watches-after"))
    missing = len(acknowledged) - len(watching.arrived)
    if missing:
        raise RuntimeError(f"{missing} of {len(acknowledged)} changes never reached their watcher")
    own = [watching.arrived[job] - at for job, at in acknowledged.items()]
    broad = [arrival - acknowledged[job] for job, arrivals in watching.broad.items() if job in acknowledged
             for arrival in arrivals]
    ms = 1000.0
    p99, broad_p99 = percentile(own, 0.99) * ms, percentile(broad, 0.99) * ms
    baseline = sum(without) / len(without)  # before the watches and after them: the drift in between cancels
    return [
        Figure(f"watch delivery, {watchers:,} watchers, half the max write rate ({without[0] / 2:,.0f}/s), p50",
               percentile(own, 0.5) * ms, "ms"),
        Figure("watch delivery to the job's own watcher, p99", p99, "ms", None, "p99 < 100 ms", p99 < 100),
        Figure(f"watch delivery to {BROAD_WATCHERS} watchers of every job, p99", broad_p99, "ms", None,
               "p99 < 100 ms", broad_p99 < 100),
        Figure(f"max write rate over HTTP with {watchers:,} watchers connected (vs without, before and after)",
               with_watchers, "/s", baseline, ">= 0.9x", with_watchers >= 0.9 * baseline),
        Figure("server memory per watcher", memory, "KiB"),
    ]
