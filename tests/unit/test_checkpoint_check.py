"""Checking a log against saved checkpoints (adapters/checkpoints.py), on random logs: a log that only grew
extends every checkpoint; a rewritten, deleted or moved event, or a cut log, fails each checkpoint it falls
under, and with the tree the store kept the first bad position is the one where the log first differs."""
from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from jobstore.adapters.checkpoints import CheckpointCheck, SavedCheckpoint
from jobstore.domain.checkpoint import Checkpoint
from jobstore.domain.merkle import RootBuilder, leaf_hash

Log = list[tuple[int, bytes]]


def log_of(size: int) -> Log:
    """Events at positions with gaps, as the log's own may have."""
    return [(3 * n + 1 + n % 2, leaf_hash(hashlib.sha256(n.to_bytes(8, "big")).digest())) for n in range(size)]


def checkpoint_of(log: Log, size: int) -> SavedCheckpoint:
    builder = RootBuilder()
    for _, leaf in log[:size]:
        builder.add(leaf)
    return SavedCheckpoint(f"cp-{size}", Checkpoint("log.example", size, builder.root()))


def checked(now: Log, saved: list[SavedCheckpoint], kept: Log | None, agrees: bool = True) -> list[str]:
    check = CheckpointCheck(saved, kept=iter(kept) if kept is not None else None)
    check.kept_agrees = {s.checkpoint.size: agrees for s in saved}
    for position, leaf in now:
        check.follow_leaf(position, leaf)
    check.finish()
    return check.problems()


@st.composite
def log_and_checkpoints(draw: st.DrawFn) -> tuple[Log, list[int]]:
    log = log_of(draw(st.integers(2, 60)))
    sizes = draw(st.lists(st.integers(1, len(log)), min_size=1, max_size=3, unique=True))
    return log, sorted(sizes)


@given(log_and_checkpoints(), st.integers(0, 20))
def test_a_log_that_only_grew_extends_every_checkpoint(case: tuple[Log, list[int]], more: int) -> None:
    log, sizes = case
    grown = log + log_of(len(log) + more)[len(log):]
    assert checked(grown, [checkpoint_of(log, size) for size in sizes], kept=grown) == []


def tampered(log: Log, how: str, where: int, other: int) -> Log:
    changed = list(log)
    if how == "rewrite":
        changed[where] = (changed[where][0], hashlib.sha256(changed[where][1]).digest())
    elif how == "delete":
        del changed[where]
    elif how == "move":
        changed[where], changed[other] = (changed[where][0], changed[other][1]), (changed[other][0], changed[where][1])
    else:
        del changed[where:]
    return changed


@given(log_and_checkpoints(), st.sampled_from(["rewrite", "delete", "move", "cut"]), st.data())
def test_an_altered_log_fails_the_checkpoints_it_falls_under_naming_the_first_bad_position(
        case: tuple[Log, list[int]], how: str, data: st.DataObject) -> None:
    log, sizes = case
    where = data.draw(st.integers(0, len(log) - 2), "where")
    other = data.draw(st.integers(where + 1, len(log) - 1), "other")
    altered = tampered(log, how, where, other)
    saved = [checkpoint_of(log, size) for size in sizes]
    problems = checked(altered, saved, kept=log)
    failing = [size for size in sizes if size > where]
    assert len(problems) == len(failing)
    for problem, size in zip(problems, failing, strict=True):
        assert f"tree size {size})" in problem
        assert f"the first bad position is {log[where][0]}" in problem, problem
    without_kept_tree = checked(altered, saved, kept=None)
    assert len(without_kept_tree) == len(failing)
    assert all("an export alone cannot name it" in problem for problem in without_kept_tree)


def test_a_checkpoint_of_the_empty_log_is_extended_by_every_log() -> None:
    empty = SavedCheckpoint("cp-0", Checkpoint("log.example", 0, hashlib.sha256(b"").digest()))
    assert checked(log_of(5), [empty], kept=log_of(5)) == []
    assert checked([], [empty], kept=None) == []
