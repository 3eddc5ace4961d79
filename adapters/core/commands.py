"""JobManager's commands for every transport: who may write, the request parsed and validated, the command run
once per idempotency key, and the answer every transport renders (the job as BASIC shows it, or nothing, and
where the command's event stands in the log).

The checks run in the contract's order: the caller's role, the request's validity, the job's existence, its
state. A transport only authenticates the caller and hands over the request as it came.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from anyio import to_thread

from jobstore.adapters.core.access import Permission, Principal, authorize
from jobstore.adapters.errors import ReplayedError, code_of, message_of
from jobstore.adapters.runtime import Services
from jobstore.adapters.storage.database import DatabaseUnavailable
from jobstore.adapters.storage.idempotency import Applied, ShownJob, Stored
from jobstore.adapters.storage.library import APPENDING_FOR
from jobstore.domain.application import Outcome
from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobView
from jobstore.domain.errors import InvalidArgument
from jobstore.domain.job import Provenance
from jobstore.domain.requests import (
    FailJobRequest,
    FinalizeCancellationRequest,
    UpsertJobRequest,
    decode_body,
    parse_request,
)
from jobstore.domain.values import parse_job_id
from jobstore.projections.render import present

Body = bytes | Mapping[str, Any] | None  # JSON as sent (bytes), already decoded by the transport, or none
CommandTimer = Callable[[str, float, bool], None]  # (command, seconds, whether it appended an event)
IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255


MAX_REQUEST_ID = 128
REQUEST_ID_CHARACTERS = "A-Z a-z 0-9 . _ ~ : / + = -"
CLIENT_REQUEST_ID = re.compile(rf"[A-Za-z0-9._~:/+=-]{{1,{MAX_REQUEST_ID}}}")


def refused_request_id(sent: str | None, field: str) -> InvalidArgument | None:
    """A client's request id (sent in `field`) is recorded on the events its request causes: a plain token, or
    refused."""
    if sent and not CLIENT_REQUEST_ID.fullmatch(sent):
        return InvalidArgument(field, f"must be 1 to {MAX_REQUEST_ID} characters, each one of "
                                      f"{REQUEST_ID_CHARACTERS} (got {len(sent)} characters)")
    return None


def new_request_id() -> str:
    """32 random hex digits, like a UUID's, drawn without a system call (uuid4 reads the OS's random source
    each time, which under load made the event loop wait for the interpreter lock)."""
    return f"{random.getrandbits(128):032x}"


@dataclass(frozen=True)
class Caller:
    """Who asks (an authenticated API key) and the request it comes in, recorded on every event it causes: the
    id the client gave the request (or the server's, when it gave none), and the id the server gave it, unique
    per request, which no client chooses."""

    principal: Principal
    request_id: str
    server_request_id: str = field(default_factory=new_request_id)

    @property
    def provenance(self) -> Provenance:
        return Provenance(actor=self.principal.name, role=self.principal.role.value, request_id=self.request_id,
                          server_request_id=self.server_request_id)


@dataclass(frozen=True)
class Written:
    """A write's answer: `answer` is the JSON body (`{"job": ...}` or `{}`); `position` where the event it
    appended stands in the log (None when it changed nothing); `replayed` when an earlier request with the
    same idempotency key answered it."""

    answer: bytes
    position: int | None
    replayed: bool = False
    shown: ShownJob | None = None  # the job the answer shows, to rebuild it from the log for a replay


class Commands:
    def __init__(self, services: Services, now: Callable[[], datetime],
                 timed: CommandTimer = lambda *_: None) -> None:
        self.services = services
        self.now = now
        self.timed = timed

    async def upsert(self, caller: Caller, body: Body, idempotency_key: str | None = None) -> Written:
        def run() -> Outcome:
            request = parse_request(UpsertJobRequest, _json_object(body))
            return self.services.jobs.upsert(request, caller.provenance)
        return await self._write(caller, "UpsertJob", "POST /v1/jobs:upsert", body, idempotency_key, run)

    async def fail(self, caller: Caller, job_id: str, body: Body, idempotency_key: str | None = None) -> Written:
        def run() -> Outcome:
            checked = parse_job_id(job_id)
            request = parse_request(FailJobRequest, _json_object(body))
            return self.services.jobs.fail(checked, request, caller.provenance)
        return await self._write(caller, "FailJob", f"POST /v1/jobs/{job_id}:fail", body, idempotency_key, run)

    async def request_cancellation(self, caller: Caller, job_id: str, body: Body = None,
                                   idempotency_key: str | None = None) -> Written:
        def run() -> Outcome:
            checked = parse_job_id(job_id)
            _no_fields(body)
            return self.services.jobs.request_cancellation(checked, caller.provenance)
        return await self._write(caller, "RequestCancellation", f"POST /v1/jobs/cancel/{job_id}", body,
                                 idempotency_key, run, shows_job=False)

    async def finalize_cancellation(self, caller: Caller, job_id: str, body: Body = None,
                                    idempotency_key: str | None = None) -> Written:
        def run() -> Outcome:
            checked = parse_job_id(job_id)
            request = None if _empty(body) else parse_request(FinalizeCancellationRequest, _json_object(body))
            return self.services.jobs.finalize_cancellation(checked, caller.provenance, request)
        return await self._write(caller, "FinalizeCancellation", f"POST /v1/jobs/{job_id}:finalizeCancellation",
                                 body, idempotency_key, run)

    # --- internals

    async def _write(self, caller: Caller, name: str, operation: str, body: Body, idempotency_key: str | None,
                     run: Callable[[], Outcome], shows_job: bool = True) -> Written:
        authorize(caller.principal, Permission.WRITE)

        async def perform() -> Written:
            outcome = await self._timed(name, run)
            self.services.note_written(outcome.position)
            if not shows_job:
                return Written(b"{}", outcome.position)
            moment = self.now()
            shown = ShownJob(outcome.document["jobId"], outcome.version, moment)
            return Written(_showing(outcome.document, moment), outcome.position, shown=shown)

        if idempotency_key is None:
            return await perform()
        return await self._once(caller, idempotency_key, _fingerprint(operation, body), perform, shows_job)

    async def _timed(self, name: str, run: Callable[[], Outcome]) -> Outcome:
        started = time.perf_counter()
        appended = False
        try:
            outcome = await to_thread.run_sync(run)
            appended = outcome.position is not None
            return outcome
        finally:
            self.timed(name, time.perf_counter() - started, appended)

    async def _once(self, caller: Caller, key: str, fingerprint: str,
                    perform: Callable[[], Awaitable[Written]], shows_job: bool) -> Written:
        """Run a write once per idempotency key (per API key): a retry with the same request gets the first
        answer back, error or not; the same key with another request is ALREADY_EXISTS. A retry of a request
        whose write committed without an answer (the database failed over, or the server stopped) gets the
        answer that write would have had; so does the request itself when the connection broke as its commit's
        answer travelled, and the append the recorder retried found the job already written."""
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidArgument(IDEMPOTENCY_KEY, f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        store, scope = self.services.idempotency, caller.principal.name
        stored = await to_thread.run_sync(store.claim, scope, key, fingerprint)
        if isinstance(stored, Applied):
            return await self._answer_applied(scope, key, stored, shows_job, replayed=True)
        if stored is not None:
            if stored.code:
                raise ReplayedError(stored.code, json.loads(stored.body)["message"])
            if stored.shown is None:
                return Written(stored.body.encode(), stored.position, replayed=True)
            shown = stored.shown
            document = await to_thread.run_sync(self._document_at, shown.job_id, shown.version)
            return Written(_showing(document, shown.at), stored.position, replayed=True)
        claimed = APPENDING_FOR.set((scope, key))
        try:
            written = await perform()
        except Exception as error:
            applied = await to_thread.run_sync(self._applied, scope, key)
            if applied is not None:  # it failed after its event committed (a lost connection): it is done
                return await self._answer_applied(scope, key, applied, shows_job, replayed=False)
            if code_of(error) in PASSING:  # passing trouble: a retry runs the request again
                await to_thread.run_sync(store.release, scope, key)
                raise
            failed = Stored(code_of(error), orjson.dumps(error_body(error)).decode(), None)
            await to_thread.run_sync(store.complete, scope, key, failed)
            raise
        finally:
            APPENDING_FOR.reset(claimed)
        if written.position is None:
            applied = await to_thread.run_sync(self._applied, scope, key)
            if applied is not None:  # its append committed, lost its answer, and was retried: a no-op by then
                return await self._answer_applied(scope, key, applied, shows_job, replayed=False)
        kept = Stored(0, "" if written.shown else written.answer.decode(), written.position, written.shown)
        await to_thread.run_sync(store.complete, scope, key, kept)
        return written

    def _applied(self, scope: str, key: str) -> Applied | None:
        try:
            return self.services.idempotency.applied(scope, key)
        except DatabaseUnavailable:
            return None

    async def _answer_applied(self, scope: str, key: str, applied: Applied, shows_job: bool,
                              replayed: bool) -> Written:
        """The answer of a write whose event committed at `applied.position`, stored as its first answer."""
        self.services.note_written(applied.position)
        if shows_job:
            event = await to_thread.run_sync(self.services.audit.event_at, applied.position)
            moment = self.now()
            version = event.originator_version
            document = await to_thread.run_sync(self._document_at, event.job_id, version)
            written = Written(_showing(document, moment), applied.position, replayed=replayed,
                              shown=ShownJob(event.job_id, version, moment))
        else:
            written = Written(b"{}", applied.position, replayed=replayed)
        kept = Stored(0, "" if written.shown else written.answer.decode(), written.position, written.shown)
        await to_thread.run_sync(self.services.idempotency.complete, scope, key, kept)
        return written

    def _document_at(self, job_id: str, version: int) -> JobDocument:
        """The job a first answer showed, replayed from the primary: a standby may not hold it yet."""
        return self.services.jobs.job(job_id, version=version).document


PASSING = frozenset({4, 13, 14})  # DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE


def _showing(document: JobDocument, moment: datetime) -> bytes:
    """A write's answer: the job as BASIC shows it at `moment`."""
    return orjson.dumps({"job": present(document, JobView.BASIC, moment)})


def error_body(error: Exception) -> dict[str, Any]:
    """The googlerpc Status of `error`, as every transport reports it."""
    return {"code": code_of(error), "message": message_of(error), "details": []}


def _fingerprint(operation: str, body: Body) -> str:
    """What makes two requests the same request: the operation and the body, keys sorted."""
    if isinstance(body, bytes):
        try:
            canonical = json.dumps(decode_body(body), sort_keys=True, separators=(",", ":")).encode() \
                if body.strip() else b""
        except InvalidArgument:
            canonical = body
    else:
        canonical = b"" if body is None else json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(f"{operation}\n".encode() + canonical).hexdigest()


def _json_object(body: Body) -> Mapping[str, Any]:
    """The request body as a JSON object; anything else is INVALID_ARGUMENT."""
    if body is None:
        body = b""
    decoded = decode_body(body) if isinstance(body, bytes) else body
    if not isinstance(decoded, Mapping):
        raise InvalidArgument("body", "must be a JSON object")
    return decoded


def _empty(body: Body) -> bool:
    return body is None or (isinstance(body, bytes) and not body.strip())


def _no_fields(body: Body) -> None:
    """A command without a request body: none, or an empty JSON object."""
    if _empty(body):
        return
    for name in _json_object(body):
        raise InvalidArgument(name, "is not a field of this request")
