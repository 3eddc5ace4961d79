"""Operating the views: how far each is behind the log, and rebuilding a view without downtime."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from jobstore.adapters.progress import ProgressBar
from jobstore.adapters.runtime import Services
from jobstore.adapters.storage.log import EventStoreLog
from jobstore.adapters.storage.schema import DEFAULT_TABLES
from jobstore.domain.document import parse_time
from jobstore.domain.enums import JobView
from jobstore.projections.engine import Progress, ProjectionEngine
from jobstore.projections.render import VIEWS

SWAP_ATTEMPTS = 500
DROP_GRACE_SECONDS = 3.0  # longer than a reader's table cache: nobody still reads the old copy


@dataclass(frozen=True)
class ViewStatus:
    view: JobView
    table: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float


def view_status(services: Services) -> list[ViewStatus]:
    head = services.engine.event_log.head()
    now = datetime.now(UTC)
    statuses = []
    for view in VIEWS:
        table = services.views.table(view, fresh=True)
        position = services.views.position_of(table)
        lag_seconds = 0.0
        if position < head:
            oldest_unseen = services.engine.event_log.read(position, 1)
            if oldest_unseen:
                lag_seconds = max(0.0, (now - parse_time(oldest_unseen[0].recorded_at)).total_seconds())
        statuses.append(ViewStatus(view, table, position, head, head - position, lag_seconds))
    return statuses


TREE_LAG_BUILT_FIRST = 10_000  # events: a tree further behind (a store written before it existed) is built first


def tree_lag(services: Services) -> tuple[int, int]:
    """(the log position the Merkle tree has reached, the head of the log)."""
    return services.tree.position(), services.event_log.head()


def build_log_tree(services: Services) -> None:
    """The Merkle tree of a store written before jobstore kept one, built before serving, with a progress bar;
    each batch commits, so a build that is stopped resumes where it stood."""
    reached, head = tree_lag(services)
    if services.settings.log_tree and head - reached > TREE_LAG_BUILT_FIRST:
        bar = ProgressBar("building the log's Merkle tree (and catching up the views)")
        services.engine.catch_up(progress=bar)
        bar.finish()


def rebuild(services: Services, view: JobView, progress: Progress | None = None) -> tuple[str, str]:
    """Build a fresh copy of `view` from position 0 while the current copy serves, catch up, swap atomically,
    then drop the old copy. Returns (old table, new table)."""
    new_table = f"{DEFAULT_TABLES[view]}_r{time.time_ns() // 1000}"
    services.views.create_copy(new_table)
    copy_log = EventStoreLog(services.event_log.events)  # its own read-ahead, apart from the live projections'
    copy = ProjectionEngine(copy_log, services.views.bound({view: new_table}), views=[view], batch_size=2000)
    try:
        copy.catch_up(progress=progress)
        for _ in range(SWAP_ATTEMPTS):
            copy.catch_up()
            old_table = services.views.swap(view, new_table)
            if old_table is not None:
                break
            time.sleep(0.01)
    finally:
        copy.close()
        copy_log.close()
    if old_table is None:
        services.views.drop(new_table)
        raise RuntimeError(f"the rebuilt copy of {view.value} could not catch up with the live one in "
                           f"{SWAP_ATTEMPTS} attempts; the write load is too high right now, try again")
    time.sleep(DROP_GRACE_SECONDS)
    services.views.drop(old_table)
    return old_table, new_table
