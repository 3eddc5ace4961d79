"""The fold merges each job's events in place on copies it owns: the rows equal a replay with `merge`, and
neither the events nor the current rows it was given change."""
from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from jobstore.domain.document import merge, merge_into, owned_copy
from jobstore.domain.enums import JobView
from jobstore.projections.rows import LoggedEvent, fold, row_for

kinds = st.sampled_from(["stress", "fileScan", "continuousInc"])
fields = st.dictionaries(st.sampled_from(["projectId", "progress", "modelId"]),
                         st.fixed_dictionaries({"uuid": st.text(max_size=3)}), max_size=2)
changes = st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"]),
    "agentId": st.fixed_dictionaries({"uuid": st.text(max_size=3)}),
    "jobData": st.dictionaries(kinds, fields, max_size=2)})
created = changes.map(lambda data: {"jobId": "j", "jobType": "JOB_TYPE_MODEL_STRESS_TEST",
                                    "status": "JOB_STATUS_REQUESTED", "creationTime": "2026-11-28T00:00:00.000000Z",
                                    **data})


@given(created, changes)
def test_merging_in_place_on_an_owned_copy_equals_merge_and_leaves_both_inputs_alone(document: dict,
                                                                                     data: dict) -> None:
    document_before, data_before = copy.deepcopy(document), copy.deepcopy(data)
    in_place = owned_copy(document)
    merge_into(in_place, data)
    assert in_place == merge(document, data)
    assert (document, data) == (document_before, data_before)


@given(created, st.lists(changes, max_size=6), st.lists(changes, max_size=6))
def test_a_fold_on_current_rows_equals_a_replay_and_changes_neither_events_nor_rows(first: dict,
                                                                                     earlier: list[dict],
                                                                                     later: list[dict]) -> None:
    def events(datas: list[dict], version: int) -> list[LoggedEvent]:
        return [LoggedEvent(v, "s", v, "Created" if v == 1 else "Upserted", d)
                for v, d in enumerate(datas, start=version)]
    before = events([first, *earlier], 1)
    [current] = fold(JobView.FULL, before, {})
    after = events(later, len(before) + 1)
    current_before, after_before = copy.deepcopy(current), copy.deepcopy(after)
    # The batch replays the events the row has seen (as after a crash): they must be skipped.
    rows = fold(JobView.FULL, before + after, {"s": current})
    replayed: dict = {}
    for event in before + after:
        replayed = merge(replayed, event.data)
    assert rows == ([row_for("s", replayed, len(before) + len(after), len(before) + len(after))] if after else [])
    assert (current, after) == (current_before, after_before)
