"""The engine folds the next batch while the previous one commits: the rows it folds on are the rows in
flight, a refused commit drops the batch folded on it, and the views end equal to one fold of the whole log."""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from jobstore.domain.enums import JobView
from jobstore.projections.engine import Alongside, ProjectionEngine
from jobstore.projections.render import VIEWS
from jobstore.projections.rows import LoggedEvent, ViewRow, fold, shown_in


def interleaved_log(jobs: int, updates: int) -> list[LoggedEvent]:
    """Every job's events spread over the log, so that each job's events fall into several batches."""
    events: list[LoggedEvent] = []
    for version in range(1, updates + 2):
        for j in range(jobs):
            data = ({"jobId": f"j{j}", "jobType": "JOB_TYPE_MODEL_STRESS_TEST", "status": "JOB_STATUS_REQUESTED",
                     "creationTime": "2026-11-27T00:00:00.000000Z", "jobData": {"stress": {"projectId": {"uuid": "p"}}}}
                    if version == 1 else
                    {"jobData": {"stress": {"progress": {"step": version}}}, "note": f"{j}-{version}"})
            events.append(LoggedEvent(len(events) + 1, f"s{j}", version, "Created" if version == 1 else "Upserted",
                                      data))
    return events


class MemoryLog:
    def __init__(self, events: list[LoggedEvent]) -> None:
        self.events = events

    def read(self, after: int, limit: int) -> Sequence[LoggedEvent]:
        return self.events[after:after + limit]

    def head(self) -> int:
        return len(self.events)


class MemoryStore:
    """Commits take a while (so that the next batch is folded while one is in flight); `before_commit` runs
    first, under the store's lock released, to let a competing worker act."""

    def __init__(self) -> None:
        self.positions = {view: 0 for view in VIEWS}
        self.tables: dict[JobView, dict[str, ViewRow]] = {view: {} for view in VIEWS}
        self.lock = threading.Lock()
        self.commits = 0
        self.refused = 0
        self.before_commit = lambda number: None

    def position(self, view: JobView) -> int:
        with self.lock:
            return self.positions[view]

    def rows(self, view: JobView, stream_ids: Sequence[str]) -> dict[str, ViewRow]:
        with self.lock:
            return {s: self.tables[view][s] for s in stream_ids if s in self.tables[view]}

    def commit(self, view: JobView, rows: Sequence[ViewRow], from_position: int, to_position: int,
               alongside: Alongside | None = None) -> bool:
        assert alongside is None, "these engines keep no tree"
        with self.lock:
            self.commits += 1
            number = self.commits
        self.before_commit(number)
        time.sleep(0.002)
        with self.lock:
            if self.positions[view] != from_position:
                self.refused += 1
                return False
            self.tables[view].update({row.stream_id: row for row in rows})
            self.positions[view] = to_position
            return True


def expected(events: list[LoggedEvent]) -> dict[JobView, dict[str, ViewRow]]:
    full = {row.stream_id: row for row in fold(JobView.FULL, events, {})}
    return {JobView.FULL: full, JobView.BASIC: {s: shown_in(JobView.BASIC, r) for s, r in full.items()}}


@pytest.mark.parametrize("batch_size", [1, 3, 7, 50])
def test_views_built_batch_after_batch_equal_one_fold_of_the_whole_log(batch_size: int) -> None:
    events = interleaved_log(jobs=5, updates=6)
    store = MemoryStore()
    engine = ProjectionEngine(MemoryLog(events), store, batch_size=batch_size)
    try:
        assert engine.catch_up() == len(events) * len(VIEWS)
    finally:
        engine.close()
    assert store.tables == expected(events)
    assert store.positions == {view: len(events) for view in VIEWS}
    assert engine.known_reached(len(events))


def test_a_refused_commit_drops_the_batch_folded_on_it_and_the_engine_resumes_from_the_stored_positions() -> None:
    events = interleaved_log(jobs=4, updates=8)
    log = MemoryLog(events)
    store = MemoryStore()
    competitor = ProjectionEngine(log, store, batch_size=4)

    def competing_worker_moves_first(number: int) -> None:
        if number in (3, 9, 10):  # while our engine has a batch in flight and the next one folded
            competitor.step()
    store.before_commit = competing_worker_moves_first
    engine = ProjectionEngine(log, store, batch_size=3)
    try:
        engine.catch_up()
    finally:
        engine.close()
        competitor.close()
    assert store.refused > 0
    assert store.tables == expected(events)
    assert store.positions == {view: len(events) for view in VIEWS}
