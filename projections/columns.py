"""The columns of the view tables beside each job's document, declared once: how each is derived from the
document, how lists use it, and (for a column clients filter lists on) the filter's query parameter and the
values it takes. The view tables, their indexes, the rows the projections write, the lists' filters and page
tokens all follow this list: a new filterable column is one entry here.

A store whose view tables lack a column declared here gets it on the next start, filled from the documents
(adapters/storage/schema.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from jobstore.domain.document import JobDocument
from jobstore.domain.enums import JobStatus, JobType, TerminationReason
from jobstore.projections.render import agent_id, project_id


@dataclass(frozen=True)
class ListFilter:
    """A repeated query parameter of the list routes: jobs whose column holds any of the values given."""

    parameter: str
    values: type[StrEnum]


@dataclass(frozen=True)
class Column:
    name: str
    derive: Callable[[JobDocument], str | None]
    required: bool = False  # every job has a value
    unique: bool = False
    index: str | None = None  # lists filter on it: the name of its index on (column, creationTime, jobId)
    filter: ListFilter | None = None
    job_data_fields: tuple[str, ...] = ()  # the jobData fields `derive` reads (the views decode only these)


COLUMNS: tuple[Column, ...] = (
    Column("job_id", lambda job: job["jobId"], required=True, unique=True),
    Column("job_type", lambda job: job["jobType"], required=True, index="type",
           filter=ListFilter("firstPageQuery.selectedTypes", JobType)),
    Column("status", lambda job: job["status"], required=True, index="status",
           filter=ListFilter("firstPageQuery.selectedStatuses", JobStatus)),
    Column("project_id", project_id, index="project", job_data_fields=("projectId",)),
    Column("agent_id", agent_id, index="agent"),
    Column("creation_time", lambda job: job["creationTime"], required=True),
    Column("termination_reason", lambda job: job.get("terminationReason"), index="termination_reason",
           filter=ListFilter("firstPageQuery.selectedTerminationReasons", TerminationReason)),
)
COLUMN_NAMES = tuple(column.name for column in COLUMNS)
FILTERS = {column.name: column.filter for column in COLUMNS if column.filter is not None}
JOB_DATA_FIELDS = tuple(sorted({field for column in COLUMNS for field in column.job_data_fields}))
_DERIVE = tuple(column.derive for column in COLUMNS)


def column_values(document: JobDocument) -> tuple[str | None, ...]:
    return tuple(_storable(derive(document)) for derive in _DERIVE)


def _storable(value: str | None) -> str | None:
    """A NUL character, which PostgreSQL cannot keep in text, as U+FFFD: requests carrying one are refused, but a
    store written before they were may hold one, and its views must still be built (on PostgreSQL the stored
    document has U+FFFD in its place too, see adapters/storage/postgres.py)."""
    return value if value is None or "\x00" not in value else value.replace("\x00", "\ufffd")
