"""One client of jobstore's API over either transport, so that one suite runs over both: HTTP/JSON (through
`Server.call`) and gRPC (grpcio stubs built from jobstore's .proto files, on `server.grpc_target`).

Every operation takes the REST API's shapes and answers an `Answer` in them: the googlerpc code (0 on success),
the body as the REST API's JSON (a gRPC response is converted with json_format and reshaped where the REST body
differs: fields proto3 leaves out at their defaults, 64-bit integers JSON writes as strings, times written at
the precision the REST API uses), the error message, the write's log position, and whether an idempotent retry
was replayed. The caller's API key, idempotency key, request id and minimum position go as the transport
carries them: headers and query parameters, or call metadata.

A gRPC error's googlerpc Status must also be in grpc-status-details-bin, with the same code and message: every
failed gRPC call checks it here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypedDict, Unpack
from urllib.parse import quote, urlencode

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_status import rpc_status

from jobstore.adapters.grpc.protos import jobstore_v1_pb2 as v1
from jobstore.adapters.grpc.protos import jobstore_v1_pb2_grpc as v1_grpc
from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.grpc.protos import rime_jobs_pb2_grpc as rime_grpc
from tests.e2e.server import Server

TRANSPORTS = ("http", "grpc")
Json = dict[str, Any]
Enum = str | int  # an enum by name, or by number (a number no enum knows is how both transports send "unknown")
SERVER_TIMES = frozenset({"creationTime", "startTime", "completionTime"})  # jobstore's: always microseconds
CLIENT_TIMES = frozenset({"expirationTime", "binStartTime", "binEndTime"})  # a client's: no fraction when whole
ALWAYS_PRESENT = {"runningTimeSecs": 0, "cancellationRequested": False}  # proto3 leaves them out at 0 and false


class Meta(TypedDict, total=False):
    """What a call carries beside its request. `key` None sends no API key; "" sends an empty one."""

    key: str | None
    idempotency_key: str
    request_id: str
    min_position: int | str


@dataclass(frozen=True)
class Answer:
    code: int  # googlerpc code; 0: OK
    body: Any  # the REST API's JSON: the answer, or the googlerpc Status {"code", "message", "details"}
    message: str = ""
    position: int | None = None  # X-Jobstore-Position / x-jobstore-position
    replayed: bool = False  # Idempotent-Replayed / idempotent-replayed
    request_id: str | None = None  # the X-Request-Id / x-request-id the answer carries

    @property
    def job(self) -> Json:
        assert self.code == 0, (self.code, self.message)
        job: Json = self.body["job"]
        return job


class Transport(ABC):
    name: str

    @abstractmethod
    def upsert(self, job: Json, mask: Json | None = None, **meta: Unpack[Meta]) -> Answer:
        """UpsertJob, with `job` and `mask` as the REST body's `job` and `writeMask`."""

    @abstractmethod
    def fail(self, job_id: str, body: Json, **meta: Unpack[Meta]) -> Answer:
        """FailJob, `body` as the REST body: terminationReason, errorMsg, jobType, archivedJobLogs."""

    @abstractmethod
    def request_cancellation(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        """CancelJob."""

    @abstractmethod
    def finalize_cancellation(self, job_id: str, job_type: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        ...

    @abstractmethod
    def get_job(self, job_id: str, view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        ...

    @abstractmethod
    def list_jobs(self, *, agent: str | None = None, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                  reasons: Sequence[Enum] = (), page_token: str | None = None, page_size: int | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        """ListJobs. A later page sends only `page_token` (and `page_size`): gRPC's request cannot carry both."""

    @abstractmethod
    def list_jobs_for_project(self, project: str, *, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                              reasons: Sequence[Enum] = (), page_token: str | None = None,
                              page_size: int | None = None, view: Enum | None = None,
                              **meta: Unpack[Meta]) -> Answer:
        ...

    @abstractmethod
    def get_project_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        ...

    @abstractmethod
    def get_test_run_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        ...

    @abstractmethod
    def history(self, job_id: str, after_version: int = 0, **meta: Unpack[Meta]) -> Answer:
        """A job's events (body {"events", "nextVersion" when cut}): GET /v1/jobs/{jobId}/events, ListJobEvents."""

    @abstractmethod
    def as_it_was(self, job_id: str, *, version: int | None = None, as_of: str | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        """The job after `version` events or at `as_of`: GET /v1/jobs/{jobId}?version|asOf, GetJobAsItWas."""

    @abstractmethod
    def feed(self, after_position: int = 0, **meta: Unpack[Meta]) -> Answer:
        """Every event after a position up to the newest (body {"events"}): /v1/events page by page, StreamLog."""

    @abstractmethod
    def checkpoint(self, **meta: Unpack[Meta]) -> Answer:
        """The log's signed checkpoint (body {"checkpoint"}): GET /v1/log/checkpoint, GetCheckpoint."""

    @abstractmethod
    def inclusion_proof(self, position: int, tree_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        """(body {"leafIndex", "treeSize", "leafHash", "hashes"}): /v1/log/proof/inclusion, GetInclusionProof."""

    @abstractmethod
    def consistency_proof(self, old_size: int, new_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        """(body {"from", "to", "hashes"}): /v1/log/proof/consistency, GetConsistencyProof."""

    def close(self) -> None:
        return None


# --- HTTP


class Http(Transport):
    name = "http"

    def __init__(self, server: Server) -> None:
        self.server = server

    def upsert(self, job: Json, mask: Json | None = None, **meta: Unpack[Meta]) -> Answer:
        body: Json = {"job": job}
        if mask is not None:
            body["writeMask"] = mask
        return self._call("POST", "/v1/jobs:upsert", meta, body)

    def fail(self, job_id: str, body: Json, **meta: Unpack[Meta]) -> Answer:
        return self._call("POST", f"{_job_path(job_id)}:fail", meta, body)

    def request_cancellation(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._call("POST", f"/v1/jobs/cancel/{quote(job_id, safe='')}", meta)

    def finalize_cancellation(self, job_id: str, job_type: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        body = None if job_type is None else {"jobType": job_type}
        return self._call("POST", f"{_job_path(job_id)}:finalizeCancellation", meta, body)

    def get_job(self, job_id: str, view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", _job_path(job_id), meta, query=_present(("view", view)))

    def list_jobs(self, *, agent: str | None = None, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                  reasons: Sequence[Enum] = (), page_token: str | None = None, page_size: int | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        query = [*_present(("agentId.uuid", agent)),
                 *_list_query(statuses, types, reasons, page_token, page_size, view)]
        return self._call("GET", "/v1/jobs", meta, query=query)

    def list_jobs_for_project(self, project: str, *, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                              reasons: Sequence[Enum] = (), page_token: str | None = None,
                              page_size: int | None = None, view: Enum | None = None,
                              **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", f"/v1/jobs/project/{quote(project, safe='')}", meta,
                          query=_list_query(statuses, types, reasons, page_token, page_size, view))

    def get_project_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", f"{_job_path(job_id)}/project-id", meta)

    def get_test_run_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", f"{_job_path(job_id)}/test-run-id", meta)

    def history(self, job_id: str, after_version: int = 0, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", f"{_job_path(job_id)}/events", meta, query=[("afterVersion", str(after_version))])

    def as_it_was(self, job_id: str, *, version: int | None = None, as_of: str | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", _job_path(job_id), meta,
                          query=_present(("version", version), ("asOf", as_of), ("view", view)))

    def feed(self, after_position: int = 0, **meta: Unpack[Meta]) -> Answer:
        events: list[Json] = []
        while True:
            page = self._call("GET", "/v1/events", meta, query=[("afterPosition", str(after_position)),
                                                                 ("limit", "1000")])
            if page.code != 0:
                return page
            events += page.body["events"]
            if not page.body["events"]:
                return Answer(0, {"events": events}, request_id=page.request_id)
            after_position = page.body["nextPosition"]

    def checkpoint(self, **meta: Unpack[Meta]) -> Answer:
        answer = self._call("GET", "/v1/log/checkpoint", meta)
        return replace(answer, body={"checkpoint": answer.body}) if answer.code == 0 else answer

    def inclusion_proof(self, position: int, tree_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", "/v1/log/proof/inclusion", meta,
                          query=_present(("position", position), ("treeSize", tree_size)))

    def consistency_proof(self, old_size: int, new_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        return self._call("GET", "/v1/log/proof/consistency", meta,
                          query=_present(("from", old_size), ("to", new_size)))

    def _call(self, method: str, path: str, meta: Meta, body: Json | None = None,
              query: Iterable[tuple[str, str]] = ()) -> Answer:
        headers = {}
        if meta.get("key") is not None:
            headers["rime-api-key"] = str(meta["key"])
        if "idempotency_key" in meta:
            headers["Idempotency-Key"] = meta["idempotency_key"]
        if "request_id" in meta:
            headers["X-Request-Id"] = meta["request_id"]
        pairs = [*query, *_present(("minPosition", meta.get("min_position")))]
        reply = self.server.call(method, path + (f"?{urlencode(pairs)}" if pairs else ""), body, headers=headers)
        position = reply.headers.get("x-jobstore-position")
        replayed = reply.headers.get("idempotent-replayed") == "true"
        request_id = reply.headers.get("x-request-id")
        if reply.status == 200:
            return Answer(0, reply.body, "", None if position is None else int(position), replayed, request_id)
        assert isinstance(reply.body, dict) and set(reply.body) == {"code", "message", "details"}, \
            (reply.status, reply.body)
        return Answer(reply.body["code"], reply.body, reply.body["message"],
                      None if position is None else int(position), replayed, request_id)


def _job_path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def _present(*pairs: tuple[str, object]) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in pairs if value is not None]


def _list_query(statuses: Sequence[Enum], types: Sequence[Enum], reasons: Sequence[Enum], page_token: str | None,
                page_size: int | None, view: Enum | None) -> list[tuple[str, str]]:
    return [*[("firstPageQuery.selectedStatuses", str(s)) for s in statuses],
            *[("firstPageQuery.selectedTypes", str(t)) for t in types],
            *[("firstPageQuery.selectedTerminationReasons", str(r)) for r in reasons],
            *_present(("pageToken", page_token), ("pageSize", page_size), ("view", view))]


# --- gRPC


class Grpc(Transport):
    name = "grpc"

    def __init__(self, server: Server) -> None:
        self.channel = grpc.insecure_channel(server.grpc_target)
        self.manager = rime_grpc.JobManagerStub(self.channel)
        self.reader = rime_grpc.JobReaderStub(self.channel)
        self.audit = v1_grpc.AuditStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def upsert(self, job: Json, mask: Json | None = None, **meta: Unpack[Meta]) -> Answer:
        flat = {name: value for name, value in job.items() if name != "terminationReason"}
        if "terminationReason" in job:
            flat["termReason"] = job["terminationReason"]
        if mask is not None:
            flat["mask"] = mask
        return self._unary(self.manager.UpsertJob, _parsed(rime.UpsertJobRequest(), flat), meta, _with_job)

    def fail(self, job_id: str, body: Json, **meta: Unpack[Meta]) -> Answer:
        flat = {"jobId": job_id, **{name: value for name, value in body.items() if name != "terminationReason"}}
        if "terminationReason" in body:
            flat["termReason"] = body["terminationReason"]
        return self._unary(self.manager.FailJob, _parsed(rime.FailJobRequest(), flat), meta, _with_job)

    def request_cancellation(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._unary(self.reader.CancelJob, rime.CancelJobRequest(job_id=job_id), meta, _as_is)

    def finalize_cancellation(self, job_id: str, job_type: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        request = rime.FinalizeCancellationRequest(job_id=job_id)
        if job_type is not None:
            request.job_type = _number(rime.JobType, job_type)
        return self._unary(self.manager.FinalizeCancellation, request, meta, _with_job)

    def get_job(self, job_id: str, view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        request = rime.GetJobRequest(job_id=job_id, view=_number(rime.JobView, view))
        return self._unary(self.reader.GetJob, request, meta, _with_job)

    def list_jobs(self, *, agent: str | None = None, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                  reasons: Sequence[Enum] = (), page_token: str | None = None, page_size: int | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        request = rime.ListJobsRequest(page_size=page_size or 0, view=_number(rime.JobView, view))
        if page_token is not None:
            assert agent is None and not (statuses or types or reasons), "a later page sends only its token"
            request.page_token = page_token
        else:
            _fill_query(request.first_page_query, statuses, types, reasons)
            if agent is not None:
                request.first_page_query.agent_id = agent
        return self._unary(self.reader.ListJobs, request, meta, _page)

    def list_jobs_for_project(self, project: str, *, statuses: Sequence[Enum] = (), types: Sequence[Enum] = (),
                              reasons: Sequence[Enum] = (), page_token: str | None = None,
                              page_size: int | None = None, view: Enum | None = None,
                              **meta: Unpack[Meta]) -> Answer:
        request = rime.ListJobsForProjectRequest(project_id=rime.UUID(uuid=project), page_size=page_size or 0,
                                                 view=_number(rime.JobView, view))
        if page_token is not None:
            assert not (statuses or types or reasons), "a later page sends only its token"
            request.page_token = page_token
        else:
            _fill_query(request.first_page_query, statuses, types, reasons)
        return self._unary(self.reader.ListJobsForProject, request, meta, _page)

    def get_project_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._unary(self.reader.GetProjectID, rime.GetProjectIDRequest(job_id=job_id), meta, _as_is)

    def get_test_run_id(self, job_id: str, **meta: Unpack[Meta]) -> Answer:
        return self._unary(self.reader.GetTestRunID, rime.GetTestRunIDRequest(job_id=job_id), meta, _as_is)

    def history(self, job_id: str, after_version: int = 0, **meta: Unpack[Meta]) -> Answer:
        request = v1.ListJobEventsRequest(job_id=job_id, after_version=after_version)
        return self._unary(self.audit.ListJobEvents, request, meta, _events_page)

    def as_it_was(self, job_id: str, *, version: int | None = None, as_of: str | None = None,
                  view: Enum | None = None, **meta: Unpack[Meta]) -> Answer:
        request = v1.GetJobAsItWasRequest(job_id=job_id, view=_number(rime.JobView, view))
        if version is not None:
            request.version = version
        if as_of is not None:
            request.as_of = as_of
        return self._unary(self.audit.GetJobAsItWas, request, meta, _with_job)

    def feed(self, after_position: int = 0, **meta: Unpack[Meta]) -> Answer:
        stream = self.audit.StreamLog(v1.StreamLogRequest(after_position=after_position),
                                      metadata=_metadata(meta), timeout=60)
        try:
            events = [_event(json_format.MessageToDict(event)) for event in stream]
        except grpc.RpcError as error:
            return _failed(error)
        trailers = dict(stream.trailing_metadata() or ())
        return Answer(0, {"events": events}, request_id=trailers.get("x-request-id"))

    def checkpoint(self, **meta: Unpack[Meta]) -> Answer:
        return self._unary(self.audit.GetCheckpoint, v1.GetCheckpointRequest(), meta, _as_is)

    def inclusion_proof(self, position: int, tree_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        request = v1.GetInclusionProofRequest(position=position, tree_size=tree_size)
        return self._unary(self.audit.GetInclusionProof, request, meta, lambda answer: {
            "leafIndex": int(answer.get("leafIndex", 0)), "treeSize": int(answer.get("treeSize", 0)),
            "leafHash": answer.get("leafHash", ""), "hashes": answer.get("hashes", [])})

    def consistency_proof(self, old_size: int, new_size: int | None = None, **meta: Unpack[Meta]) -> Answer:
        request = v1.GetConsistencyProofRequest(from_size=old_size, to_size=new_size)
        return self._unary(self.audit.GetConsistencyProof, request, meta, lambda answer: {
            "from": int(answer.get("fromSize", 0)), "to": int(answer.get("toSize", 0)),
            "hashes": answer.get("hashes", [])})

    def _unary(self, method: Any, request: Message, meta: Meta, shape: Callable[[Json], Json]) -> Answer:
        try:
            response, call = method.with_call(request, metadata=_metadata(meta), timeout=60)
        except grpc.RpcError as error:
            return _failed(error)
        trailers = dict(call.trailing_metadata() or ())  # the answer's metadata comes as trailers
        assert not call.initial_metadata(), "answers carry their metadata in the trailers only"
        position = trailers.get("x-jobstore-position")
        return Answer(0, shape(json_format.MessageToDict(response)), "", None if position is None else int(position),
                      trailers.get("idempotent-replayed") == "true", trailers.get("x-request-id"))


def _metadata(meta: Meta) -> list[tuple[str, str]]:
    sent = [("rime-api-key", meta.get("key")), ("idempotency-key", meta.get("idempotency_key")),
            ("x-request-id", meta.get("request_id")), ("x-jobstore-min-position", meta.get("min_position"))]
    return [(name, str(value)) for name, value in sent if value is not None]


def _failed(error: grpc.RpcError) -> Answer:
    """A failed call's Answer, once its grpc-status-details-bin is checked: the same code and message."""
    call: Any = error
    status = rpc_status.from_call(call)  # also raises ValueError when its code or message differ from the call's
    assert status is not None, f"no grpc-status-details-bin on {call.code()}: {call.details()}"
    assert (status.code, status.message) == (call.code().value[0], call.details()) and not status.details
    metadata = dict(call.trailing_metadata() or ())
    position = metadata.get("x-jobstore-position")
    return Answer(status.code, {"code": status.code, "message": status.message, "details": []}, status.message,
                  None if position is None else int(position), metadata.get("idempotent-replayed") == "true",
                  metadata.get("x-request-id"))


def _parsed(message: Message, data: Json) -> Message:
    json_format.ParseDict(data, message)
    return message


def _number(enum: Any, value: Enum | None) -> int:
    if value is None:
        return 0
    return value if isinstance(value, int) else int(enum.Value(value))


def _fill_query(query: Any, statuses: Sequence[Enum], types: Sequence[Enum], reasons: Sequence[Enum]) -> None:
    query.selected_statuses.extend(_number(rime.JobStatus, s) for s in statuses)
    query.selected_types.extend(_number(rime.JobType, t) for t in types)
    query.selected_termination_reasons.extend(_number(rime.TerminationReason, r) for r in reasons)
    query.SetInParent()


# --- gRPC answers in the REST API's shapes


def _as_is(answer: Json) -> Json:
    return answer


def _job(job: Json) -> Json:
    return {**ALWAYS_PRESENT, **_times(job)}


def _with_job(answer: Json) -> Json:
    return {**answer, "job": _job(answer["job"])}


def _page(answer: Json) -> Json:
    page: Json = {"jobs": [_job(job) for job in answer.get("jobs", [])], "hasMore": answer.get("hasMore", False)}
    if "nextPageToken" in answer:
        page["nextPageToken"] = answer["nextPageToken"]
    return page


def _event(event: Json) -> Json:
    return {**event, "position": int(event["position"]), "version": int(event["version"])}


def _events_page(answer: Json) -> Json:
    page: Json = {"events": [_event(event) for event in answer.get("events", [])]}
    if answer.get("hasMore"):
        page["nextVersion"] = int(answer["nextVersion"])
    return page


def _times(value: Any) -> Any:
    """Times written as the REST API writes them, in UTC with a Z: those jobstore sets with microseconds, those
    a client gave with microseconds unless they are whole seconds (json_format writes 0, 3, 6 or 9 digits)."""
    if isinstance(value, list):
        return [_times(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {name: _rest_time(item, name in SERVER_TIMES) if name in SERVER_TIMES | CLIENT_TIMES else _times(item)
            for name, item in value.items()}


def _rest_time(text: str, always_fraction: bool) -> str:
    written = datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return written if always_fraction else written.replace(".000000Z", "Z")


def transport(name: str, server: Server) -> Transport:
    return Http(server) if name == "http" else Grpc(server)
