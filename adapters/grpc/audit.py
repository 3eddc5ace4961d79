"""jobstore.v1.Audit (auditor and admin keys) and jobstore.v1.Health (no key), over the same queries as the
REST API's audit and operations routes."""
from __future__ import annotations

from collections.abc import AsyncIterator

from anyio import to_thread

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.queries import AS_IT_WAS, MAX_FEED
from jobstore.adapters.errors import Unavailable
from jobstore.adapters.grpc.calls import Call, Method
from jobstore.adapters.grpc.convert import optional_enum_name
from jobstore.adapters.grpc.messages import message
from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.observability import readiness
from jobstore.domain.errors import InvalidArgument

AUDIT = "jobstore.v1.Audit"
HEALTH = "jobstore.v1.Health"


async def list_job_events(call: Call, request: v1.ListJobEventsRequest) -> v1.ListJobEventsResponse:
    page = await call.core.queries.history(call.caller.principal, request.job_id, request.after_version)
    answer = {"events": page.events, "hasMore": page.more}
    if page.more:
        answer["nextVersion"] = page.next
    return message(v1.ListJobEventsResponse, answer)


async def get_job_as_it_was(call: Call, request: v1.GetJobAsItWasRequest) -> v1.GetJobAsItWasResponse:
    moment = request.WhichOneof("moment")
    if moment is None:
        raise InvalidArgument("as_of", "give as_of or version: the instant or the number of events to rebuild the "
                                      "job at")
    read = await call.core.queries.get_job(
        call.caller.principal, request.job_id, optional_enum_name(rime.JobView, request.view),
        as_of=request.as_of if moment == "as_of" else None, version=request.version if moment == "version" else None)
    return message(v1.GetJobAsItWasResponse, {"job": read.job})


async def stream_log(call: Call, request: v1.StreamLogRequest) -> AsyncIterator[v1.Event]:
    """The log after a position, page by page, up to the newest event when the call began."""
    queries, after = call.core.queries, request.after_position
    head = await to_thread.run_sync(call.core.services.engine.event_log.head)
    while True:
        page = await queries.feed(call.caller.principal, after, MAX_FEED)
        for event in page.events:
            yield message(v1.Event, event)
        after = page.next
        if not page.more or after >= head:
            return


async def get_checkpoint(call: Call, request: v1.GetCheckpointRequest) -> v1.GetCheckpointResponse:
    return v1.GetCheckpointResponse(checkpoint=await call.core.log.checkpoint(call.caller.principal))


async def get_inclusion_proof(call: Call, request: v1.GetInclusionProofRequest) -> v1.InclusionProof:
    proof = await call.core.log.inclusion(call.caller.principal, request.position,
                                          request.tree_size if request.HasField("tree_size") else None)
    return v1.InclusionProof(leaf_index=proof.leaf_index, tree_size=proof.tree_size, leaf_hash=proof.leaf_hash,
                             hashes=proof.hashes)


async def get_consistency_proof(call: Call, request: v1.GetConsistencyProofRequest) -> v1.ConsistencyProof:
    proof = await call.core.log.consistency(call.caller.principal, request.from_size,
                                            request.to_size if request.HasField("to_size") else None)
    return v1.ConsistencyProof(from_size=proof.old_size, to_size=proof.new_size, hashes=proof.hashes)


async def live(call: Call, request: v1.LiveRequest) -> v1.HealthResponse:
    return v1.HealthResponse(status="ok")


async def ready(call: Call, request: v1.ReadyRequest) -> v1.HealthResponse:
    problem = await to_thread.run_sync(readiness, call.core.services)
    if problem:
        raise Unavailable(f"not ready: {problem}")
    return v1.HealthResponse(status="ready")


AUDIT_METHODS = [
    Method("ListJobEvents", v1.ListJobEventsRequest, Permission.AUDIT, list_job_events),
    Method("GetJobAsItWas", v1.GetJobAsItWasRequest, Permission.AUDIT, get_job_as_it_was, doing=AS_IT_WAS),
    Method("StreamLog", v1.StreamLogRequest, Permission.AUDIT, stream=stream_log),
    Method("GetCheckpoint", v1.GetCheckpointRequest, Permission.AUDIT, get_checkpoint),
    Method("GetInclusionProof", v1.GetInclusionProofRequest, Permission.AUDIT, get_inclusion_proof),
    Method("GetConsistencyProof", v1.GetConsistencyProofRequest, Permission.AUDIT, get_consistency_proof),
]
HEALTH_METHODS = [
    Method("Live", v1.LiveRequest, None, live),
    Method("Ready", v1.ReadyRequest, None, ready),
]
