"""Random sequences of every command, legal and illegal, on several jobs, checked against a plain model.

The model is written from the contract's transition table (a literal copy below), not from the code's table.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from jobstore.adapters.runtime import open_services
from jobstore.domain.document import JobDocument, merge
from jobstore.domain.enums import JobStatus, JobType, JobView, TerminationReason
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobStoreError
from jobstore.domain.job import Provenance, stream_id
from jobstore.domain.values import JobMetadata, WriteMask
from jobstore.projections.render import present, view_document
from tests.conftest import SettingsFactory, fail_request, upsert_request

R, P, RUN, REC = "REQUESTED", "PENDING", "RUNNING", "RECONCILING"
SUC, FAIL, CAN = "SUCCEEDED", "FAILED", "CANCELLED"
# The contract's table: from -> {to: "yes" | "via finalize"}.
CONTRACT = {
    None: {P: "yes"},
    R: {P: "yes", REC: "yes", FAIL: "yes", CAN: "via finalize"},
    P: {RUN: "yes", REC: "yes", FAIL: "yes", CAN: "via finalize"},
    RUN: {REC: "yes", SUC: "yes", FAIL: "yes", CAN: "via finalize"},
    REC: {P: "yes", RUN: "yes", SUC: "yes", FAIL: "yes", CAN: "via finalize"},
    SUC: {}, FAIL: {}, CAN: {},
}
TERMINAL = {SUC, FAIL, CAN}
STATUSES = [R, P, RUN, REC, SUC, FAIL, CAN]
BY = Provenance(actor="property-test", role="writer", request_id="hypothesis")


def short(status: str) -> str:
    return status.removeprefix("JOB_STATUS_")


class JobLifecycle(RuleBasedStateMachine):
    """Each example runs on a fresh, empty store of the test's backend."""

    new_store: SettingsFactory

    def __init__(self) -> None:
        super().__init__()
        self.services = open_services(self.new_store())
        self.model: dict[str, dict[str, Any]] = {}

    jobs = Bundle("jobs")
    stress_tests = Bundle("stress_tests")

    def attempt(self, job_id: str, expect_ok: bool, command: Any) -> None:
        """Run `command`; it must succeed exactly when the model says so, and a refusal must store nothing."""
        before = self.version(job_id)
        try:
            command()
        except (FailedPrecondition, InvalidArgument) as refused:
            assert not expect_ok, f"refused a legal command on {job_id}: {refused}"
            assert self.version(job_id) == before, "a refused command stored something"
            return
        assert expect_ok, f"accepted an illegal command on {job_id}"

    def version(self, job_id: str) -> int | None:
        try:
            return self.services.jobs.job(job_id).version
        except JobStoreError:
            return None

    def history(self, job_id: str) -> list[tuple[str, JobDocument]]:
        """(event type, document after it) for each stored event of the job, replayed from the log."""
        document: JobDocument = {}
        steps = []
        for event in self.services.jobs.repository.event_store.get(stream_id(job_id)):
            document = merge(document, event.data)
            steps.append((type(event).__name__, document))
        return steps

    @rule(target=jobs, job_type=st.sampled_from([t for t in JobType if t is not JobType.UNSPECIFIED]),
          initial=st.sampled_from([None, *STATUSES]))
    def create(self, job_type: JobType, initial: str | None) -> MultipleResults[str]:
        """A new job; only one that was created joins the bundle of jobs the other rules act on."""
        job_id = f"prop-{len(self.model)}"
        job: dict[str, Any] = {"jobId": job_id, "jobType": job_type.value}
        if initial is not None:
            job["status"] = f"JOB_STATUS_{initial}"
        legal = initial in (None, R) or CONTRACT[None].get(initial) == "yes"
        self.attempt(job_id, legal, lambda: self.services.jobs.upsert(upsert_request(job), BY))
        if not legal:
            return multiple()
        self.model[job_id] = {"status": initial or R, "cancel": False, "events": 1, "type": job_type}
        return multiple(job_id)

    @rule(targets=(jobs, stress_tests), initial=st.sampled_from([None, P]))
    def create_stress_test(self, initial: str | None) -> MultipleResults[str]:
        return self.create(JobType.MODEL_STRESS_TEST, initial)

    @rule(job_id=jobs, target_status=st.sampled_from(STATUSES))
    def set_status(self, job_id: str, target_status: str) -> None:
        """Every status from every state, legal or not: the table decides, and a refusal stores nothing."""
        state = self.model[job_id]
        same = target_status == state["status"]
        # Asking an upsert for CANCELLED is invalid whatever the job's state (validity is checked first).
        legal = target_status != CAN and (same or CONTRACT[state["status"]].get(target_status) == "yes")
        request = JobMetadata(job_id=job_id, status=JobStatus(f"JOB_STATUS_{target_status}"))
        self.attempt(job_id, legal, lambda: self.services.jobs.upsert(upsert_request(request, {"status": True}), BY))
        if legal and not same:
            state["status"] = target_status
            state["events"] += 1

    def movable(self) -> list[str]:
        return [job_id for job_id, state in self.model.items() if CONTRACT[state["status"]]]

    @precondition(lambda self: self.movable())
    @rule(data=st.data())
    def move_along_the_table(self, data: st.DataObject) -> None:
        """A legal move chosen from the contract's table, so that runs reach deep states often."""
        job_id = data.draw(st.sampled_from(self.movable()), label="job")
        target, how = data.draw(st.sampled_from(sorted(CONTRACT[self.model[job_id]["status"]].items())),
                                label="move")
        if how == "yes":
            self.set_status(job_id, target)
        else:
            self.request_cancellation(job_id)
            self.finalize_cancellation(job_id)

    @rule(job_id=stress_tests, done=st.integers(min_value=0, max_value=3))
    def report_progress(self, job_id: str, done: int) -> None:
        state = self.model[job_id]
        batches = [{"type": f"b{i}", "status": "TEST_TASK_STATUS_COMPLETED" if i < done else
                    "TEST_TASK_STATUS_RUNNING"} for i in range(3)]
        changes = state.get("done") != done
        legal = not (changes and state["status"] in TERMINAL)
        request = JobMetadata.model_validate({"jobId": job_id, "jobData": {"stress": {"progress": {
            "testRun": {"testRunId": "t", "testBatches": batches}}}}})
        mask = WriteMask.model_validate({"jobData": {"stress": {"progress": True}}})
        self.attempt(job_id, legal, lambda: self.services.jobs.upsert(upsert_request(request, mask), BY))
        if legal and changes:
            state["done"] = done
            state["events"] += 1

    @rule(job_id=jobs, agent=st.sampled_from(["a1", "a2"]))
    def set_agent(self, job_id: str, agent: str) -> None:
        state = self.model[job_id]
        changes = state.get("agent") != agent
        legal = not (changes and state["status"] in TERMINAL)
        request = JobMetadata.model_validate({"jobId": job_id, "agentId": {"uuid": agent}})
        self.attempt(job_id, legal, lambda: self.services.jobs.upsert(upsert_request(request, {"agentId": True}), BY))
        if legal and changes:
            state["agent"] = agent
            state["events"] += 1

    @rule(job_id=jobs, reason=st.sampled_from(list(TerminationReason)), message=st.sampled_from([None, "oom"]))
    def fail(self, job_id: str, reason: TerminationReason, message: str | None) -> None:
        state = self.model[job_id]
        if reason is TerminationReason.UNSPECIFIED:
            legal, changes = False, False
        elif state["status"] == FAIL and state.get("failure") == (reason, message):
            legal, changes = True, False
        else:
            legal = changes = state["status"] not in TERMINAL
        self.attempt(job_id, legal, lambda: self.services.jobs.fail(job_id, fail_request(reason, message), BY))
        if legal and changes:
            state.update(status=FAIL, failure=(reason, message))
            state["events"] += 1

    @rule(job_id=jobs)
    def request_cancellation(self, job_id: str) -> None:
        state = self.model[job_id]
        legal = state["status"] not in TERMINAL
        self.attempt(job_id, legal, lambda: self.services.jobs.request_cancellation(job_id, BY))
        if legal and not state["cancel"]:
            state["cancel"] = True
            state["events"] += 1

    @rule(job_id=jobs)
    def finalize_cancellation(self, job_id: str) -> None:
        state = self.model[job_id]
        legal = state["status"] == CAN or (state["cancel"] and state["status"] not in TERMINAL)
        self.attempt(job_id, legal, lambda: self.services.jobs.finalize_cancellation(job_id, BY))
        if legal and state["status"] != CAN:
            state["status"] = CAN
            state["events"] += 1

    @rule()
    def projections_catch_up_and_equal_the_log(self) -> None:
        self.services.engine.catch_up()
        for job_id in self.model:
            replayed = self.history(job_id)[-1][1]
            for view in (JobView.BASIC, JobView.FULL):
                row = self.services.views.get(view, job_id)
                assert row is not None, f"{job_id} missing from {view.value}"
                assert row.document == view_document(replayed, view), f"{view.value} differs from the log"
                assert row.version == self.model[job_id]["events"]
            full = self.services.views.get(JobView.FULL, job_id)
            assert full is not None
            if "done" in self.model[job_id]:
                shown = present(full.document, JobView.FULL, datetime.now(UTC))
                assert shown["jobProgressStr"] == f"{self.model[job_id]['done']} / 3 tests completed"

    @invariant()
    def the_stored_history_agrees_with_the_model_and_the_table(self) -> None:
        for job_id, state in self.model.items():
            steps = self.history(job_id)
            self.check_history(steps)
            assert len(steps) == state["events"], "an accepted change stored no event, or a no-op stored one"
            document = steps[-1][1]
            assert document["status"] == f"JOB_STATUS_{state['status']}"
            assert document["cancellationRequested"] is state["cancel"]

    @staticmethod
    def check_history(steps: list[tuple[str, JobDocument]]) -> None:
        """Every stored status sequence is a path in the table; terminal is final; the times follow the status."""
        statuses = [short(d["status"]) for _, d in steps]
        assert statuses[0] in (R, P)
        for (event_type, _), before, after in zip(steps[1:], statuses[:-1], statuses[1:], strict=True):
            if before == after:
                continue
            assert before not in TERMINAL, f"terminal {before} changed to {after}"
            expected = "via finalize" if event_type == "CancellationFinalized" else "yes"
            assert CONTRACT[before].get(after) == expected, f"{before} -> {after} by {event_type}"
        reached_running = None
        for (_, document), status in zip(steps, statuses, strict=True):
            if status == RUN and reached_running is None:
                reached_running = document["startTime"]
            assert document.get("startTime") == reached_running, "startTime set other than on first RUNNING"
            assert ("completionTime" in document) == (status in TERMINAL)

    def teardown(self) -> None:
        try:
            if self.model:
                self.projections_catch_up_and_equal_the_log()
        finally:
            self.services.close()


EXAMPLES = {"sqlite": 100, "postgres": 40}  # a fresh PostgreSQL schema per example costs about 0.2 s


def test_random_command_sequences_keep_every_invariant(make_settings: SettingsFactory, backend: str) -> None:
    examples = EXAMPLES[backend]
    JobLifecycle.new_store = staticmethod(make_settings)  # type: ignore[assignment]
    run_state_machine_as_test(JobLifecycle, settings=settings(
        max_examples=examples, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
