"""A store written before requests with U+0000 were refused may hold one: its views are still built."""
from __future__ import annotations

from jobstore.adapters.runtime import Services
from jobstore.domain.enums import JobType, JobView
from jobstore.domain.job import Provenance
from jobstore.domain.requests import UpsertJobRequest
from jobstore.domain.values import JobMetadata, RimeUUID
from jobstore.projections.columns import COLUMN_NAMES

BY = Provenance("earlier-version", "writer", "request-1")


def test_a_job_holding_a_nul_written_before_it_was_refused_is_projected(services: Services, backend: str) -> None:
    # As an earlier version accepted it: built without the validation that now refuses it.
    job = JobMetadata.model_construct(job_id="nul-1", job_type=JobType.IMAGE_BUILDER,
                                      agent_id=RimeUUID.model_construct(uuid="a\x00b"))
    services.jobs.upsert(UpsertJobRequest.model_construct(job=job, write_mask=None), BY)
    services.engine.catch_up()
    for view in (JobView.BASIC, JobView.FULL):
        row = services.views.get(view, "nul-1")
        assert row is not None and row.columns[COLUMN_NAMES.index("agent_id")] == "a\ufffdb"
        # SQLite keeps the character in the document; PostgreSQL cannot, and keeps U+FFFD in its place.
        assert row.document["agentId"]["uuid"] == ("a\x00b" if backend == "sqlite" else "a\ufffdb")
    # `audit verify` says where the view differs from the log: on PostgreSQL, in the character it could not keep.
    problems = services.audit.verify("nul-1")
    if backend == "sqlite":
        assert problems == []
    else:
        assert [p.job_id for p in problems] == ["nul-1", "nul-1"] and all("agentId" in p.what for p in problems)


def test_only_nul_escapes_become_replacement_characters_not_an_escaped_backslash_before_u0000() -> None:
    from jobstore.adapters.storage.postgres import _without_nul

    encoded = b'{"a": "x\\u0000y", "b": "\\\\u0000", "c": "\\\\\\u0000"}'
    assert _without_nul(encoded) == b'{"a": "x\\ufffdy", "b": "\\\\u0000", "c": "\\\\\\ufffd"}'
