"""gRPC load from the bench's own process: callers on one channel (one HTTP/2 connection), sending requests
already serialized and taking answers as bytes, so that the client, which shares the machine's cores with the
server, spends as little as it can on each call (bench/README.md: the gRPC client)."""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2

from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime

UPSERT_JOB = "/rime.JobManager/UpsertJob"
GET_JOB = "/rime.JobReader/GetJob"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
Call = Callable[..., Awaitable[bytes]]


def upsert_request(body: dict[str, Any]) -> bytes:
    """A REST UpsertJob body as the flat, published UpsertJobRequest."""
    flat = dict(body["job"])
    if "writeMask" in body:
        flat["mask"] = body["writeMask"]
    return bytes(json_format.ParseDict(flat, rime.UpsertJobRequest()).SerializeToString())


def get_job_request(job_id: str) -> bytes:
    return bytes(rime.GetJobRequest(job_id=job_id, view=rime.JOB_VIEW_FULL).SerializeToString())


HEALTH_CHECK_REQUEST = bytes(health_pb2.HealthCheckRequest().SerializeToString())


def _method(channel: grpc.aio.Channel, path: str) -> Call:
    return channel.unary_unary(path)  # no (de)serializers: bytes both ways


def answer(target: str, key: str, path: str, request: bytes) -> bytes:
    async def run() -> bytes:
        async with grpc.aio.insecure_channel(target) as channel:
            return await _method(channel, path)(request, metadata=(("rime-api-key", key),), timeout=60)

    return asyncio.run(run())


def in_sequence(target: str, key: str, path: str, plans: list[list[bytes]]) -> float:
    """Calls/s of `path`, one caller per plan sending its requests in order, all on one channel.

    A caller is a chain of grpcio futures on a synchronous channel: each answer's callback, on grpcio's own
    thread, sends the caller's next request. Against a bare health server that cost the client 247 us of CPU per
    call, against 321 us for asyncio tasks on a grpc.aio channel and 283 us for blocking calls from threads (and
    the server less too); the client shares the machine's cores with the server it measures."""
    finished = threading.Event()
    failures: list[BaseException] = []
    running = [len(plans)]
    lock = threading.Lock()

    def caller_done(error: BaseException | None) -> None:
        with lock:
            if error is not None:
                failures.append(error)
            running[0] -= 1
            if not running[0] or error is not None:
                finished.set()

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary(path)
        metadata = (("rime-api-key", key),)

        def send(plan: list[bytes], index: int) -> None:
            def answered(future: grpc.Future) -> None:
                error = future.exception()
                if error is not None or index + 1 == len(plan):
                    caller_done(error)
                elif not finished.is_set():
                    send(plan, index + 1)
            call.future(plan[index], metadata=metadata, timeout=60).add_done_callback(answered)

        started = time.perf_counter()
        for plan in plans:
            if plan:
                send(plan, 0)
            else:
                caller_done(None)
        finished.wait()
        elapsed = time.perf_counter() - started
    if failures:
        raise failures[0]
    return sum(map(len, plans)) / elapsed


def for_seconds(target: str, key: str, path: str, request: bytes, callers: int, seconds: float) -> float:
    """Calls/s of the same request from `callers` callers on one channel, each calling again as soon as it is
    answered, for `seconds`."""

    async def run() -> float:
        async with grpc.aio.insecure_channel(target) as channel:
            call = _method(channel, path)
            metadata = (("rime-api-key", key),)
            await call(request, metadata=metadata, timeout=60)  # connected before the clock starts
            started = time.perf_counter()
            deadline = started + seconds

            async def caller() -> int:
                done = 0
                while time.perf_counter() < deadline:
                    await call(request, metadata=metadata, timeout=60)
                    done += 1
                return done

            calls = sum(await asyncio.gather(*(caller() for _ in range(callers))))
            return calls / (time.perf_counter() - started)

    return asyncio.run(run())
