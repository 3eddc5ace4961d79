"""A BASIC row made from the FULL row (shown_in, what the engine does) equals the BASIC row built anew."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from jobstore.domain.enums import JobView
from jobstore.projections.render import view_document
from jobstore.projections.rows import row_for, shown_in

ids = st.fixed_dictionaries({"uuid": st.text(min_size=1, max_size=8)})
progress = st.fixed_dictionaries({"testRun": st.fixed_dictionaries({"testRunId": st.text(max_size=4)})})
kind_fields = st.fixed_dictionaries({}, optional={"projectId": ids, "progress": progress, "modelId": ids})
documents = st.fixed_dictionaries(
    {"jobId": st.text(min_size=1, max_size=8), "jobType": st.sampled_from(["JOB_TYPE_MODEL_STRESS_TEST",
                                                                          "JOB_TYPE_FILE_SCAN"]),
     "status": st.sampled_from(["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"]),
     "creationTime": st.just("2026-11-27T00:00:00.000000Z")},
    optional={"agentId": ids,
              "jobData": st.dictionaries(st.sampled_from(["stress", "fileScan", "continuousInc"]), kind_fields)})


@given(documents)
def test_a_basic_row_derived_from_the_full_row_equals_one_built_from_the_basic_document(document: dict) -> None:
    full = row_for("stream", view_document(document, JobView.FULL), 3, 17)
    assert shown_in(JobView.BASIC, full) == row_for("stream", view_document(document, JobView.BASIC), 3, 17)
    basic_job_data = shown_in(JobView.BASIC, full).document.get("jobData", {})
    assert all("progress" not in fields for fields in basic_job_data.values())


def test_a_nul_character_a_store_already_holds_becomes_a_replacement_character_in_the_columns() -> None:
    """Requests carrying U+0000 are refused now; a store written before may hold one, which PostgreSQL cannot
    keep in a text column: its views are still built, the document keeps the character."""
    from jobstore.projections.columns import COLUMN_NAMES, column_values

    document = {"jobId": "j", "jobType": "JOB_TYPE_IMAGE_BUILDER", "status": "JOB_STATUS_REQUESTED",
                "creationTime": "2026-11-30T00:00:00.000000Z", "agentId": {"uuid": "a\x00b"}}
    columns = column_values(document)  # type: ignore[arg-type]
    assert columns[COLUMN_NAMES.index("agent_id")] == "a\ufffdb"
    assert document["agentId"] == {"uuid": "a\x00b"}
