"""rime.JobManager and rime.JobReader: each method turns its request into what the core takes, calls the same
command or query the REST route calls, and turns the answer into the response message."""
from __future__ import annotations

from typing import Any

import orjson

from jobstore.adapters.core.access import Permission
from jobstore.adapters.core.queries import JobPage
from jobstore.adapters.grpc.calls import Call, Method, run_whole
from jobstore.adapters.grpc.convert import (
    fail_body,
    finalize_body,
    optional_enum_name,
    selected,
    upsert_body,
)
from jobstore.adapters.grpc.messages import message
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.domain.errors import InvalidArgument

JOB_MANAGER = "rime.JobManager"
JOB_READER = "rime.JobReader"


# --- JobManager


async def upsert_job(call: Call, request: rime.UpsertJobRequest) -> rime.UpsertJobResponse:
    commands = call.core.commands
    written = await run_whole(commands.upsert(call.caller, upsert_body(request), call.idempotency_key))
    call.written(written)
    return message(rime.UpsertJobResponse, orjson.loads(written.answer))


async def fail_job(call: Call, request: rime.FailJobRequest) -> rime.FailJobResponse:
    commands = call.core.commands
    written = await run_whole(commands.fail(call.caller, request.job_id, fail_body(request), call.idempotency_key))
    call.written(written)
    return message(rime.FailJobResponse, orjson.loads(written.answer))


async def finalize_cancellation(call: Call, request: rime.FinalizeCancellationRequest
                                ) -> rime.FinalizeCancellationResponse:
    commands = call.core.commands
    written = await run_whole(commands.finalize_cancellation(call.caller, request.job_id, finalize_body(request),
                                                             call.idempotency_key))
    call.written(written)
    return message(rime.FinalizeCancellationResponse, orjson.loads(written.answer))


async def cancel_job(call: Call, request: rime.CancelJobRequest) -> rime.CancelJobResponse:
    commands = call.core.commands
    written = await run_whole(commands.request_cancellation(call.caller, request.job_id, None,
                                                            call.idempotency_key))
    call.written(written)
    return rime.CancelJobResponse()


# --- JobReader


async def get_job(call: Call, request: rime.GetJobRequest) -> bytes:
    read = await call.core.queries.get_job(call.caller.principal, request.job_id,
                                           optional_enum_name(rime.JobView, request.view), call.min_position)
    assert read.position is not None, "a job read from its view"
    call.read_at(read.position)
    return call.core.answers.answer("protobuf", read.answer_key, lambda: bytes(
        message(rime.GetJobResponse, {"job": read.job}).SerializeToString()))


async def list_jobs(call: Call, request: rime.ListJobsRequest) -> rime.ListJobsResponse:
    query = request.first_page_query
    agent = query.agent_id if query.HasField("agent_id") else None
    page = await call.core.queries.list_jobs(
        call.caller.principal, agent=agent, view=optional_enum_name(rime.JobView, request.view),
        selected=selected(query), page_token=request.page_token or None, size=request.page_size,
        min_position=call.min_position)
    return message(rime.ListJobsResponse, _page(call, page))


async def list_jobs_for_project(call: Call, request: rime.ListJobsForProjectRequest
                                ) -> rime.ListJobsForProjectResponse:
    if not request.project_id.uuid:
        raise InvalidArgument("projectId.uuid", "is required")
    page = await call.core.queries.list_jobs(
        call.caller.principal, project=request.project_id.uuid, view=optional_enum_name(rime.JobView, request.view),
        selected=selected(request.first_page_query), page_token=request.page_token or None,
        size=request.page_size, min_position=call.min_position)
    return message(rime.ListJobsForProjectResponse, _page(call, page))


def _page(call: Call, page: JobPage) -> dict[str, Any]:
    call.read_at(page.position)
    answer: dict[str, Any] = {"jobs": page.jobs, "hasMore": page.has_more}
    if page.next_page_token is not None:
        answer["nextPageToken"] = page.next_page_token
    return answer


async def get_project_id(call: Call, request: rime.GetProjectIDRequest) -> rime.GetProjectIDResponse:
    project, position = await call.core.queries.project_id(call.caller.principal, request.job_id, call.min_position)
    call.read_at(position)
    return rime.GetProjectIDResponse(project_id=rime.UUID(uuid=project))


async def get_test_run_id(call: Call, request: rime.GetTestRunIDRequest) -> rime.GetTestRunIDResponse:
    test_run, position = await call.core.queries.test_run_id(call.caller.principal, request.job_id,
                                                             call.min_position)
    call.read_at(position)
    return rime.GetTestRunIDResponse(test_run_id=test_run)


JOB_MANAGER_METHODS = [
    Method("UpsertJob", rime.UpsertJobRequest, Permission.WRITE, upsert_job),
    Method("FailJob", rime.FailJobRequest, Permission.WRITE, fail_job),
    Method("FinalizeCancellation", rime.FinalizeCancellationRequest, Permission.WRITE, finalize_cancellation),
]
JOB_READER_METHODS = [
    Method("ListJobs", rime.ListJobsRequest, Permission.READ, list_jobs),
    Method("GetJob", rime.GetJobRequest, Permission.READ, get_job),
    Method("CancelJob", rime.CancelJobRequest, Permission.WRITE, cancel_job),
    Method("GetTestRunID", rime.GetTestRunIDRequest, Permission.READ, get_test_run_id),
    Method("GetProjectID", rime.GetProjectIDRequest, Permission.READ, get_project_id),
    Method("ListJobsForProject", rime.ListJobsForProjectRequest, Permission.READ, list_jobs_for_project),
]
