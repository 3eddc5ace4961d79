"""jobstore.v1.Watch: the watch of GET /v1/jobs:watch (adapters/core/watch.py) as a server stream."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.watch import BOOKMARK, LEAVE, Sent
from jobstore.adapters.grpc.calls import Call, Method
from jobstore.adapters.grpc.convert import optional_enum_name, selected
from jobstore.adapters.grpc.messages import message
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.domain.enums import JobView
from jobstore.projections.render import present

WATCH = "jobstore.v1.Watch"
KINDS = {BOOKMARK: v1.WatchJobsResponse.KIND_BOOKMARK, LEAVE: v1.WatchJobsResponse.KIND_LEAVE}


async def watch_jobs(call: Call, request: v1.WatchJobsRequest) -> AsyncIterator[v1.WatchJobsResponse]:
    queries = call.core.queries
    watcher = await queries.watch(
        call.caller.principal, job_id=request.job_id or None,
        project=request.project_id.uuid if request.HasField("project_id") else None,
        agent=request.agent_id if request.HasField("agent_id") else None,
        view=optional_enum_name(rime.JobView, request.view), selected=selected(request),
        after=request.after_position if request.HasField("after_position") else None)
    try:
        async for sent in watcher.sent(call.core.services.settings.watch_heartbeat_seconds):
            yield _response(sent, watcher.wanted.view, queries.now)
    finally:
        watcher.hub.leave(watcher)


def _response(sent: Sent, view: JobView, now: Callable[[], datetime]) -> v1.WatchJobsResponse:
    kind = KINDS.get(sent.kind, v1.WatchJobsResponse.KIND_CHANGE)
    if sent.document is None:
        return v1.WatchJobsResponse(kind=kind, position=sent.position)
    return message(v1.WatchJobsResponse, {"kind": kind, "position": sent.position,
                                          "job": present(sent.document, view, now())})


WATCH_METHODS = [Method("WatchJobs", v1.WatchJobsRequest, Permission.READ, stream=watch_jobs)]
