"""What each view shows of a job document, and the fields derived when a job is read."""
from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from jobstore.domain.document import JobData, JobDocument, parse_time
from jobstore.domain.enums import JobStatus, JobView, TestTaskStatus
from jobstore.domain.transitions import TERMINAL

VIEWS: tuple[JobView, JobView] = (JobView.BASIC, JobView.FULL)


def stored_view(view: JobView) -> JobView:
    """The view that serves a request: UNSPECIFIED means BASIC."""
    return JobView.FULL if view is JobView.FULL else JobView.BASIC


def view_document(document: JobDocument, view: JobView) -> JobDocument:
    """The part of a job document that `view` keeps: BASIC drops every `progress` in jobData."""
    if stored_view(view) is JobView.FULL or "jobData" not in document:
        return document
    kinds = cast(dict[str, dict[str, Any]], document["jobData"])
    shown = document.copy()
    shown["jobData"] = cast(JobData, {kind: {k: v for k, v in fields.items() if k != "progress"}
                                      for kind, fields in kinds.items()})
    return shown


def present(document: JobDocument, view: JobView, now: datetime) -> dict[str, Any]:
    """The job as a read returns it: the view's fields plus `runningTimeSecs` and, in FULL, `jobProgressStr`."""
    shown = dict(view_document(document, view))
    shown["runningTimeSecs"] = running_time_secs(document, now)
    if stored_view(view) is JobView.FULL:
        progress = progress_text(document)
        if progress is not None:
            shown["jobProgressStr"] = progress
    return shown


def running_time_secs(document: JobDocument, now: datetime) -> float:
    """0 before startTime; completion - start once terminal; otherwise now - start."""
    if "startTime" not in document:
        return 0.0
    start = parse_time(document["startTime"])
    end = now if runs_on_the_clock(document) else parse_time(document["completionTime"])
    return max(0.0, (end - start).total_seconds())


def runs_on_the_clock(document: JobDocument) -> bool:
    """Whether the job as a read shows it changes with the time of the read: its running time grows from
    startTime until it ends in a terminal status with a completionTime."""
    return "startTime" in document and not (JobStatus(document["status"]) in TERMINAL
                                            and "completionTime" in document)


def progress_text(document: JobDocument) -> str | None:
    """"n / N tests completed" for a stress test, "n / N time bins completed" for a continuous test."""
    job_data = document.get("jobData", {})
    stress = job_data.get("stress", {})
    if "progress" in stress:
        batches = stress["progress"].get("testRun", {}).get("testBatches", [])
        done = sum(1 for b in batches if b.get("status") == TestTaskStatus.COMPLETED.value)
        return f"{done} / {len(batches)} tests completed"
    continuous = job_data.get("continuousInc", {})
    if "progress" in continuous:
        runs = continuous["progress"].get("testRuns", [])
        done = sum(1 for r in runs if r.get("testRun", {}).get("status") == TestTaskStatus.COMPLETED.value)
        return f"{done} / {len(continuous.get('ctTestRunIds', []))} time bins completed"
    return None


def project_id(document: JobDocument) -> str | None:
    """The project a job belongs to, if any (stress tests and file scans)."""
    job_data = document.get("jobData", {})
    for fields in (job_data.get("stress"), job_data.get("fileScan")):
        uuid = (fields or {}).get("projectId", {}).get("uuid")
        if uuid is not None:
            return str(uuid)
    return None


def agent_id(document: JobDocument) -> str | None:
    uuid = document.get("agentId", {}).get("uuid")
    return None if uuid is None else str(uuid)
