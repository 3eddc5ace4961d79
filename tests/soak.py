"""A concurrency soak over HTTP: several processes, each with several threads, send random commands to a few
jobs, then the log, the views and every answer are checked against each other. The default tests run a short
one; `bash bench/run --only soak` runs the long one."""
from __future__ import annotations

import json
import multiprocessing
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from jobstore.domain.enums import JobStatus
from jobstore.domain.transitions import TERMINAL, Route, route

STATUSES = ["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED",
            "JOB_STATUS_FAILED", "JOB_STATUS_REQUESTED"]


@dataclass
class Answer:
    request_id: str
    command: str
    status: int
    code: int | None
    position: int | None


def _call(base: str, key: str, method: str, path: str, body: Any, request_id: str) -> tuple[int, Any, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers={
        "rime-api-key": key, "content-type": "application/json", "X-Request-Id": request_id})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}"), {k.lower(): v for k, v in
                                                                          response.headers.items()}
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), {k.lower(): v for k, v in error.headers.items()}


def _random_command(rng: random.Random, job_id: str) -> tuple[str, str, str, Any]:
    choice = rng.randrange(7)
    if choice == 0:
        return "create", "POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                                             "jobData": {"stress": {"projectId": {"uuid": "soak"}}}}}
    if choice in (1, 2):
        return "status", "POST", "/v1/jobs:upsert", {"job": {"jobId": job_id, "status": rng.choice(STATUSES)},
                                                     "writeMask": {"status": True}}
    if choice == 3:
        return "progress", "POST", "/v1/jobs:upsert", {
            "job": {"jobId": job_id, "jobData": {"stress": {"progress": {"testRun": {"testBatches": [
                {"type": "b", "status": rng.choice(["TEST_TASK_STATUS_RUNNING", "TEST_TASK_STATUS_COMPLETED"])}]}}}}},
            "writeMask": {"jobData": {"stress": {"progress": True}}}}
    if choice == 4:
        return "fail", "POST", f"/v1/jobs/{job_id}:fail", {"terminationReason": "TERMINATION_REASON_GENERIC_ERROR",
                                                           "errorMsg": rng.choice(["a", "b"])}
    if choice == 5:
        return "cancel", "POST", f"/v1/jobs/cancel/{job_id}", None
    return "finalize", "POST", f"/v1/jobs/{job_id}:finalizeCancellation", None


def _process(base: str, key: str, job_ids: list[str], threads: int, seconds: float, seed: int,
             out: Any) -> None:
    answers: list[Answer] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        rng = random.Random(seed * 1000 + n)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            request_id = f"soak-{uuid.uuid4().hex}"
            command, method, path, body = _random_command(rng, rng.choice(job_ids))
            status, reply, headers = _call(base, key, method, path, body, request_id)
            position = headers.get("x-jobstore-position")
            with lock:
                answers.append(Answer(request_id, command, status, reply.get("code") if status != 200 else None,
                                      int(position) if position else None))

    pool = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put([a.__dict__ for a in answers])


def run(base: str, key: str, processes: int, threads: int, jobs: int, seconds: float) -> list[Answer]:
    job_ids = [f"soak-job-{uuid.uuid4().hex[:8]}-{n}" for n in range(jobs)]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_process, args=(base, key, job_ids, threads, seconds, n, queue))
               for n in range(processes)]
    for worker in workers:
        worker.start()
    answers = [Answer(**a) for _ in workers for a in queue.get(timeout=seconds + 300)]
    for worker in workers:
        worker.join(60)
    return answers


def feed(base: str, key: str) -> list[dict[str, Any]]:
    events, after = [], 0
    while True:
        status, page, _ = _call(base, key, "GET", f"/v1/events?afterPosition={after}&limit=1000", None,
                                f"feed-{uuid.uuid4().hex}")
        assert status == 200, page
        events += page["events"]
        if not page["events"]:
            return events
        after = page["nextPosition"]


def problems(answers: list[Answer], events: list[dict[str, Any]]) -> list[str]:
    """Everything that breaks the soak's promises (empty when all hold)."""
    found = [f"{a.command} {a.request_id}: HTTP {a.status}" for a in answers if a.status >= 500]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_request.setdefault(event["requestId"], []).append(event)
    for answer in answers:
        stored = by_request.get(answer.request_id, [])
        expected = 1 if answer.status == 200 and answer.position is not None else 0
        if len(stored) != expected:
            found.append(f"{answer.command} {answer.request_id} answered {answer.status} "
                         f"(position {answer.position}) but the log has {len(stored)} event(s) for it")
        elif stored and stored[0]["position"] != answer.position:
            found.append(f"{answer.request_id}: answered position {answer.position}, logged {stored[0]['position']}")
    statuses: dict[str, str] = {}
    for event in events:
        new = event["data"].get("status")
        if new is None:
            continue
        old = statuses.get(event["jobId"])
        if old is not None and old != new:
            legal = route(JobStatus(old), JobStatus(new))
            if JobStatus(old) in TERMINAL or legal is None or (
                    legal is Route.FINALIZE) != (event["type"] == "CancellationFinalized"):
                found.append(f"{event['jobId']}: illegal {old} -> {new} by {event['type']}")
        statuses[event["jobId"]] = new
    return found
