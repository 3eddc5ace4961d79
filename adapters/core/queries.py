"""JobReader's queries and the auditors' for every transport: served from the views (a job, lists of jobs, a
job's project and test run) or from the log (history, the feed, a job as it was), each after the caller's role
is checked and the request validated, and after the views hold the position the caller asked to see."""
from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import Any

from anyio import to_thread

from jobstore.adapters.core.access import Permission, Principal, authorize
from jobstore.adapters.core.lists import (
    MAX_PAGE_BYTES,
    JobFilter,
    PageKey,
    decode_token,
    encode_token,
    filter_text,
    page_document_bytes,
    page_size,
    selection,
)
from jobstore.adapters.core.watch import Watcher, WatchFilter, WatchHub
from jobstore.adapters.errors import DeadlineExceeded, at_position
from jobstore.adapters.runtime import Services
from jobstore.adapters.storage.standby import StandbyPositions
from jobstore.domain.enums import JobStatus, JobType, JobView
from jobstore.domain.errors import FailedPrecondition, InvalidArgument, JobNotFound, OutOfRange
from jobstore.domain.values import parse_job_id, utc_time
from jobstore.projections.render import present, project_id, runs_on_the_clock, stored_view
from jobstore.projections.rows import ViewRow

MAX_POSITION = 2**63 - 1  # positions and versions are 64-bit integers in the store
MIN_POSITION_WAIT_SECONDS = 5.0
MAX_FEED = 1000
AS_IT_WAS = "read a job as it was (asOf, version): only auditor and admin keys may"
EVENT_PAGE_BYTES = MAX_PAGE_BYTES // 2  # of stored events: what auditors see of an event is smaller than it is


@dataclass(frozen=True)
class EventPage:
    """Events as auditors see them; where the next page starts (a version in a job's history, a position in
    the log), and whether more follow."""

    events: list[dict[str, Any]]
    next: int
    more: bool


@dataclass(frozen=True)
class JobRead:
    """A job as a read shows it (built when first asked for), and the position of the log the view it came from
    stood at (None for a job as it was, rebuilt from the log).

    `answer_key` is the same for every read that shows the same job and never for two that differ: an answer
    built from one such read may be kept and given for the next. None for a job that changes with the clock
    (runs_on_the_clock) and for a job as it was."""

    show: Callable[[], dict[str, Any]]
    position: int | None
    answer_key: Hashable | None = None

    @cached_property
    def job(self) -> dict[str, Any]:
        return self.show()


@dataclass(frozen=True)
class JobPage:
    jobs: list[dict[str, Any]]
    next_page_token: str | None
    position: int  # of the view read: the page holds exactly the events up to it

    @property
    def has_more(self) -> bool:
        return self.next_page_token is not None


def parse_view(view: str | None) -> JobView:
    """JOB_VIEW_BASIC unless the request names another view."""
    if view is None or view == "":
        return JobView.BASIC
    try:
        return JobView(view)
    except ValueError:
        raise InvalidArgument("view", f"{view!r} is not one of {', '.join(v.value for v in JobView)}") from None


def parse_rfc3339(field: str, text: str) -> datetime:
    """An RFC 3339 time with an offset or Z, as UTC; anything else is INVALID_ARGUMENT naming `field`."""
    try:
        return utc_time(text)
    except ValueError as error:
        raise InvalidArgument(field, str(error)) from None


class Queries:
    def __init__(self, services: Services, now: Callable[[], datetime]) -> None:
        self.services = services
        self.now = now
        self.watches = WatchHub(services.backend, services.audit.events, services.settings.watch_buffer,
                                hear_appends=services.hear_appends)
        services.wakers.append(self.watches.nudge)

    async def watch(self, principal: Principal, *, job_id: str | None = None, project: str | None = None,
                    agent: str | None = None, view: str | None = None, selected: dict[str, list[str]] | None = None,
                    after: int | None = None) -> Watcher:
        """A watch of the jobs a list would choose (or of one job) from position `after` (None: from now)."""
        authorize(principal, Permission.READ)
        jobs = JobFilter(project_id=filter_text("projectId", project), agent_id=filter_text("agentId.uuid", agent),
                         selected=selection(selected or {}))
        wanted = WatchFilter(jobs, job_id=None if job_id is None else parse_job_id(job_id),
                             view=stored_view(parse_view(view)))
        if after is not None and after < 0:
            raise InvalidArgument("afterPosition", f"must not be negative (got {after})")
        return await self.watches.watch(wanted, after)

    async def get_job(self, principal: Principal, job_id: str, view: str | None = None,
                      min_position: int | None = None, as_of: str | None = None,
                      version: int | None = None) -> JobRead:
        """GetJob from the view; for auditors, with `as_of` or `version`, the job as it was, from the log."""
        authorize(principal, Permission.READ)
        if as_of is None and version is None:
            shown = parse_view(view)
            checked = parse_job_id(job_id)
            await self.wait_for_views(min_position)
            found = await self.services.views.get_async(shown, checked)
            if found.row is None:
                raise at_position(JobNotFound(checked), found.position)
            row, moment = found.row, self.now()
            key = None if runs_on_the_clock(row.document) else (stored_view(shown), row.stream_id, row.version)
            return JobRead(partial(present, row.document, shown, moment), found.position, key)
        authorize(principal, Permission.AUDIT, AS_IT_WAS)
        shown = parse_view(view)
        if as_of is not None and version is not None:
            raise InvalidArgument("asOf", "give asOf or version, not both")
        checked = parse_job_id(job_id)
        audit = self.services.audit
        await self._own_writes_in_log()
        if version is not None:
            document, moment = await to_thread.run_sync(audit.at_version, checked, version)
        else:
            document, moment = await to_thread.run_sync(audit.as_of, checked, parse_rfc3339("asOf", as_of or ""))
        return JobRead(partial(present, document, shown, moment), None)

    async def list_jobs(self, principal: Principal, *, project: str | None = None, agent: str | None = None,
                        view: str | None = None, selected: dict[str, list[str]] | None = None,
                        page_token: str | None = None, size: int | None = None,
                        min_position: int | None = None) -> JobPage:
        """ListJobs (`agent` filters it) and ListJobsForProject (`project`): newest first, in keyset pages. A
        later page may repeat the first page's filters; different ones are INVALID_ARGUMENT."""
        authorize(principal, Permission.READ)
        shown = parse_view(view)
        limit = page_size(size)
        wanted = JobFilter(project_id=filter_text("projectId", project), agent_id=filter_text("agentId.uuid", agent),
                           selected=selection(selected or {}))
        after: PageKey | None = None
        if page_token:
            issued_for, after = decode_token(self.services.page_secret, page_token)
            if issued_for.project_id != project or (agent is not None and agent != issued_for.agent_id) or \
                    any(values and issued_for.selection(column) != values for column, values in wanted.selected):
                raise InvalidArgument("pageToken", "was issued for a different query; send the same query, or "
                                                   "start again from the first page without pageToken")
            wanted = issued_for
        await self.wait_for_views(min_position)
        rows, more, position = await to_thread.run_sync(self.services.views.page, shown, wanted, after, limit,
                                                        page_document_bytes(limit))
        moment = self.now()
        jobs = [present(row.document, shown, moment) for row in rows]
        token = None if not more else encode_token(self.services.page_secret, wanted,
                                                   PageKey(rows[-1].creation_time, rows[-1].job_id))
        return JobPage(jobs, token, position)

    async def project_id(self, principal: Principal, job_id: str, min_position: int | None = None
                         ) -> tuple[str, int]:
        """GetProjectID: the project of a stress test or file scan, and the view's position."""
        row, position = await self._row(principal, job_id, min_position)
        project = project_id(row.document)
        if project is None:
            raise at_position(FailedPrecondition(f"job {row.job_id!r} ({row.document['jobType']}) belongs to no "
                                                 "project"), position)
        return project, position

    async def test_run_id(self, principal: Principal, job_id: str, min_position: int | None = None
                          ) -> tuple[str, int]:
        """GetTestRunID: only a stress test that succeeded has one to give; and the view's position."""
        row, position = await self._row(principal, job_id, min_position)
        job_type, status = row.document["jobType"], row.document["status"]
        if job_type != JobType.MODEL_STRESS_TEST.value or status != JobStatus.SUCCEEDED.value:
            raise at_position(FailedPrecondition(
                f"job {row.job_id!r} is a {job_type} in {status}; a test run id is given only for a "
                "JOB_TYPE_MODEL_STRESS_TEST job in JOB_STATUS_SUCCEEDED"), position)
        test_run_id = row.document.get("jobData", {}).get("stress", {}).get("testRunId")
        if test_run_id is None:
            raise at_position(FailedPrecondition(f"job {row.job_id!r} succeeded but has no "
                                                 "jobData.stress.testRunId"), position)
        return str(test_run_id), position

    async def history(self, principal: Principal, job_id: str, after_version: int = 0) -> EventPage:
        """A job's events after `after_version`, oldest first, with their links in its hash chain; as many as
        an answer of MAX_PAGE_BYTES holds (at least one)."""
        authorize(principal, Permission.AUDIT)
        if after_version < 0:
            raise InvalidArgument("afterVersion", f"must not be negative (got {after_version})")
        await self._own_writes_in_log()
        events, more = await to_thread.run_sync(self.services.audit.history_page, parse_job_id(job_id),
                                                after_version, EVENT_PAGE_BYTES)
        return EventPage([event.wire() for event in events], events[-1].event.originator_version
                         if events else after_version, more)

    async def feed(self, principal: Principal, after: int, limit: int) -> EventPage:
        """Every job's events after global position `after`, in commit order, and where the next page starts."""
        authorize(principal, Permission.AUDIT)
        if after < 0:
            raise InvalidArgument("afterPosition", f"must not be negative (got {after})")
        if not 1 <= limit <= MAX_FEED:
            raise InvalidArgument("limit", f"must be 1 to {MAX_FEED} (got {limit})")
        await self._own_writes_in_log()
        events, next_position, more = await to_thread.run_sync(self.services.audit.feed, after, limit,
                                                               EVENT_PAGE_BYTES)
        return EventPage([event.wire() for event in events], next_position, more)

    async def _own_writes_in_log(self) -> None:
        standby = self.services.backend.standby_positions
        if standby is not None and standby.log < self.services.last_written:
            await to_thread.run_sync(self.services.catch_up_log_with_own_writes)

    async def wait_for_views(self, min_position: int | None) -> None:
        """Read-your-writes: until the views hold `min_position` (at most 5 s, then DEADLINE_EXCEEDED), or,
        without one, this process's own writes (at most 2 s)."""
        services = self.services
        if min_position is None:
            if not services.own_writes_visible():
                await to_thread.run_sync(services.catch_up_with_own_writes)
            return
        if min_position < 0:
            raise InvalidArgument("minPosition", f"must not be negative (got {min_position})")
        standby = services.backend.standby_positions
        if standby is not None and standby.route.on_standby:
            if not standby.known(min_position):
                await to_thread.run_sync(self._wait_on_standby, standby, min_position)
        elif not services.engine.known_reached(min_position):
            await to_thread.run_sync(self._wait_for_position, min_position)

    def _wait_on_standby(self, standby: StandbyPositions, position: int) -> None:
        """As `_wait_for_position`, for the views of the standby that reads go to."""
        if standby.log < position and position > self.services.engine.event_log.head():
            raise self._beyond_the_log(position)
        reached = standby.wait_for(position, MIN_POSITION_WAIT_SECONDS)
        if reached is None:  # the standby went away: reads go to the primary now
            self._wait_for_position(position)
        elif not reached:
            raise DeadlineExceeded(f"the standby's views did not reach position {position} within "
                                   f"{MIN_POSITION_WAIT_SECONDS:.0f} s; retry, or check `jobstore status` for its "
                                   "replay lag")

    @staticmethod
    def _beyond_the_log(position: int) -> OutOfRange:
        return OutOfRange(f"minPosition {position} is beyond the newest event in the log; use the "
                          "X-Jobstore-Position of a write")

    def _wait_for_position(self, position: int) -> None:
        engine = self.services.engine
        if not engine.reached(position) and position > engine.event_log.head():
            raise self._beyond_the_log(position)
        if not engine.wait_for(position, MIN_POSITION_WAIT_SECONDS):
            raise DeadlineExceeded(f"the views did not reach position {position} within "
                                   f"{MIN_POSITION_WAIT_SECONDS:.0f} s; retry, or check `jobstore status`")

    async def _row(self, principal: Principal, job_id: str, min_position: int | None) -> tuple[ViewRow, int]:
        authorize(principal, Permission.READ)
        checked = parse_job_id(job_id)
        await self.wait_for_views(min_position)
        row, position = await self.services.views.get_async(JobView.BASIC, checked)
        if row is None:
            raise at_position(JobNotFound(checked), position)
        return row, position
