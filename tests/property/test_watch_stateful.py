"""Watches under random commands: several watchers with random filters, each starting now or at a random
position of the history, run while random commands (legal or not) change random jobs. At the end each watcher
has seen exactly the changes its filter chooses, in log order, each once, and leaves where a job stopped
matching; its last view of each job it still follows equals GetJob.

The expected changes are computed apart from the watch's code: the log's events, the job as it was at each
version (rebuilt by the event store from the job's events) and a plain predicate over the job's fields."""
from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from jobstore.adapters.core.access import Principal, Role
from jobstore.adapters.core.queries import Queries
from jobstore.adapters.core.watch import BOOKMARK, CHANGE, LEAVE, Sent, Watcher
from jobstore.adapters.runtime import open_services
from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobView
from jobstore.domain.errors import JobStoreError
from jobstore.domain.job import Provenance
from jobstore.projections.render import view_document
from tests.conftest import SettingsFactory, fail_request, upsert_request

BY = Provenance(actor="watch-test", role="writer", request_id="hypothesis")
READER = Principal("watcher", Role.READER)
JOBS = ["job-a", "job-b", "job-c", "job-d"]
PROJECTS, AGENTS = ["project-1", "project-2"], ["agent-1", "agent-2"]
TYPES = ["JOB_TYPE_MODEL_STRESS_TEST", "JOB_TYPE_IMAGE_BUILDER"]
STATUSES = ["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING", "JOB_STATUS_RECONCILING", "JOB_STATUS_SUCCEEDED"]
VIEWS = [JobView.BASIC, JobView.FULL]
PROGRESS = {"testRun": {"testRunId": "r", "status": "TEST_TASK_STATUS_RUNNING", "testBatches": [
    {"type": "t", "status": "TEST_TASK_STATUS_COMPLETED"}]}}

filters = st.one_of(
    st.fixed_dictionaries({"job_id": st.sampled_from(JOBS)}),
    st.fixed_dictionaries({"project": st.sampled_from(PROJECTS)},
                          optional={"selected": st.fixed_dictionaries({"status": st.lists(st.sampled_from(STATUSES),
                                                                                           max_size=2)})}),
    st.fixed_dictionaries({"agent": st.sampled_from(AGENTS)}),
    st.fixed_dictionaries({"selected": st.fixed_dictionaries(
        {"status": st.lists(st.sampled_from([*STATUSES, "JOB_STATUS_FAILED"]), min_size=1, max_size=3)},
        optional={"job_type": st.lists(st.sampled_from(TYPES), min_size=1, max_size=1)})}),
)


def chosen(wanted: dict[str, Any], document: JobDocument | None) -> bool:
    if document is None:
        return False
    job: dict[str, Any] = dict(document)
    project = job.get("jobData", {}).get("stress", {}).get("projectId", {}).get("uuid")
    selected = wanted.get("selected", {})
    return ((wanted.get("job_id") in (None, job["jobId"])) and (wanted.get("project") in (None, project))
            and (wanted.get("agent") in (None, job.get("agentId", {}).get("uuid")))
            and (not selected.get("status") or job["status"] in selected["status"])
            and (not selected.get("job_type") or job["jobType"] in selected["job_type"]))


class Watching(RuleBasedStateMachine):
    new_store: SettingsFactory

    def __init__(self) -> None:
        super().__init__()
        self.services = open_services(self.new_store())
        self.loop = asyncio.new_event_loop()
        self.queries = Queries(self.services, lambda: datetime.now(UTC))
        self.watchers: list[tuple[dict[str, Any], JobView, Watcher, list[Sent]]] = []

    def run(self, work: Any) -> Any:
        return self.loop.run_until_complete(work)

    def wrote(self, outcome: Any) -> None:
        self.services.note_written(outcome.position)
        self.run(asyncio.sleep(0))  # let the tail and the watchers take a turn now and then

    @rule(job=st.sampled_from(JOBS), job_type=st.sampled_from(TYPES), project=st.sampled_from(PROJECTS),
          agent=st.sampled_from(AGENTS))
    def create(self, job: str, job_type: str, project: str, agent: str) -> None:
        fields: dict[str, Any] = {"jobId": job, "jobType": job_type, "agentId": {"uuid": agent}}
        if job_type == TYPES[0]:
            fields["jobData"] = {"stress": {"projectId": {"uuid": project}}}
        with contextlib.suppress(JobStoreError):
            self.wrote(self.services.jobs.upsert(upsert_request(fields), BY))

    @rule(job=st.sampled_from(JOBS), status=st.sampled_from(STATUSES))
    def move(self, job: str, status: str) -> None:
        with contextlib.suppress(JobStoreError):
            self.wrote(self.services.jobs.upsert(upsert_request({"jobId": job, "status": status}, {"status": True}),
                                                 BY))

    @rule(job=st.sampled_from(JOBS), agent=st.sampled_from(AGENTS))
    def reassign(self, job: str, agent: str) -> None:
        with contextlib.suppress(JobStoreError):
            self.wrote(self.services.jobs.upsert(upsert_request({"jobId": job, "agentId": {"uuid": agent}},
                                                                {"agentId": True}), BY))

    @rule(job=st.sampled_from(JOBS))
    def report_progress(self, job: str) -> None:
        with contextlib.suppress(JobStoreError):
            self.wrote(self.services.jobs.upsert(upsert_request(
                {"jobId": job, "jobData": {"stress": {"progress": PROGRESS}}},
                {"jobData": {"stress": {"progress": True}}}), BY))

    @rule(job=st.sampled_from(JOBS))
    def fail(self, job: str) -> None:
        with contextlib.suppress(JobStoreError):
            self.wrote(self.services.jobs.fail(job, fail_request("TERMINATION_REASON_OOMKILLED"),  # type: ignore[arg-type]
                                               BY))

    @rule(wanted=filters, view=st.sampled_from(VIEWS), start=st.one_of(st.none(), st.floats(0, 1)))
    def watch(self, wanted: dict[str, Any], view: JobView, start: float | None) -> None:
        head = self.services.audit.events.head()
        after = None if start is None else int(start * head)
        selected = {column: list(values) for column, values in wanted.get("selected", {}).items()}
        watcher = self.run(self.queries.watch(READER, job_id=wanted.get("job_id"), project=wanted.get("project"),
                                              agent=wanted.get("agent"), view=view.value, selected=selected,
                                              after=after))
        received: list[Sent] = []

        async def consume() -> None:
            async for sent in watcher.sent(0.02):
                received.append(sent)

        self.loop.create_task(consume())
        self.watchers.append((wanted, view, watcher, received))

    @rule(wanted=filters)
    def watch_briefly(self, wanted: dict[str, Any]) -> None:
        """A watch that comes and goes: when it was the only one, the tail stops reading until the next."""
        watcher = self.run(self.queries.watch(READER, job_id=wanted.get("job_id"), project=wanted.get("project"),
                                              agent=wanted.get("agent")))
        self.run(asyncio.sleep(0))
        self.queries.watches.leave(watcher)

    def teardown(self) -> None:
        try:
            head = self.services.audit.events.head()
            deadline = time.monotonic() + 20
            for _, _, _, received in self.watchers:
                while not (received and received[-1].kind == BOOKMARK and received[-1].position >= head):
                    assert time.monotonic() < deadline, f"a watcher did not reach position {head}: {received[-3:]}"
                    self.run(asyncio.sleep(0.01))
            log, _, _ = self.services.audit.feed(0, 10_000, 10**9)
            self.services.engine.catch_up()
            for wanted, view, watcher, received in self.watchers:
                self.check(wanted, view, watcher, received, log)
        finally:
            self.run(self.queries.watches.close())
            self.loop.run_until_complete(asyncio.sleep(0.05))
            for task in asyncio.all_tasks(self.loop):
                task.cancel()
            self.loop.close()
            self.services.close()

    def check(self, wanted: dict[str, Any], view: JobView, watcher: Watcher, received: list[Sent],
              log: list[Any]) -> None:
        expected = []
        for recorded in log:
            if recorded.position <= watcher.start:
                continue
            job_id, version = recorded.event.job_id, recorded.event.originator_version
            after = self.services.audit.at_version(job_id, version)[0]
            before = self.services.audit.at_version(job_id, version - 1)[0] if version > 1 else None
            if chosen(wanted, after):
                expected.append((CHANGE, recorded.position, view_document(after, view)))
            elif chosen(wanted, before):
                expected.append((LEAVE, recorded.position, view_document(after, view)))
        got = [(sent.kind, sent.position, view_document(sent.document, view)) for sent in received
               if sent.kind != BOOKMARK and sent.document is not None]
        assert got == expected, f"{wanted} from {watcher.start}"
        bookmarks = [sent.position for sent in received if sent.kind == BOOKMARK]
        assert received[0] == Sent(BOOKMARK, watcher.start) and bookmarks == sorted(bookmarks)
        last_view: dict[str, JobDocument] = {}
        for kind, _, document in got:
            if kind == CHANGE:
                last_view[document["jobId"]] = document
            else:
                last_view.pop(document["jobId"], None)
        for job_id, document in last_view.items():
            row = self.services.views.get(view, job_id)
            assert row is not None and row.document == document


def test_every_watcher_sees_exactly_the_changes_its_filter_chooses(make_settings: SettingsFactory,
                                                                    backend: str) -> None:
    Watching.new_store = staticmethod(make_settings)  # type: ignore[assignment]
    run_state_machine_as_test(Watching, settings=settings(
        max_examples={"sqlite": 40, "postgres": 20}[backend], stateful_step_count=30, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
