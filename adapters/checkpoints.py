"""Checking a log against saved checkpoints: that the log today (a store, or an export alone) is an append-only
extension of each log a checkpoint describes.

Each event's leaf is recomputed from its content (the SHA-256 of its canonical record, domain.chain), never
taken from its stored `hash`, so that an event rewritten in place changes its leaf whether or not its hash was
recomputed. The leaves of the log's first N events, in position order, must hash to the root of a checkpoint of
size N. Where one does not, the first event that differs is named from the tree the store keeps, when that tree
still agrees with the checkpoint; from an export alone, from the hash chains when they break, and otherwise by
the narrowest range the checkpoints allow.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobstore.domain.chain import ChainFollower, event_hash
from jobstore.domain.checkpoint import Checkpoint, NoteRefused, Verifier, open_note
from jobstore.domain.errors import JobStoreError
from jobstore.domain.job import Job
from jobstore.domain.merkle import EMPTY_ROOT, RootBuilder, leaf_hash


class CheckpointUnreadable(JobStoreError):
    pass


@dataclass(frozen=True)
class SavedCheckpoint:
    source: str
    checkpoint: Checkpoint


def read_checkpoint(path: Path, verifier: Verifier) -> SavedCheckpoint:
    """A checkpoint an auditor saved, its signature checked with `verifier`."""
    try:
        note = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CheckpointUnreadable(f"{path}: cannot be read ({error})") from None
    try:
        checkpoint = Checkpoint.parse(open_note(note, verifier))
    except NoteRefused as error:
        raise CheckpointUnreadable(f"{path}: refused: {error}") from None
    if checkpoint.origin != verifier.name:
        raise CheckpointUnreadable(f"{path}: a checkpoint of log {checkpoint.origin!r}, not of {verifier.name!r}")
    return SavedCheckpoint(str(path), checkpoint)


@dataclass
class _Difference:
    index: int
    log_position: int | None  # the event the log has at that leaf now (None: the log ends before it)
    kept_position: int | None  # the event the kept tree has there (None: it ends before it)


@dataclass
class CheckpointCheck:
    """Follows a log in position order and checks it against `saved` checkpoints; `kept` is the tree the store
    keeps, as (position, leaf hash) in order, when there is one."""

    saved: list[SavedCheckpoint]
    kept: Iterator[tuple[int, bytes]] | None = None
    kept_agrees: dict[int, bool] = field(default_factory=dict)  # per checkpoint size: the kept tree's root is its
    _builder: RootBuilder = field(default_factory=RootBuilder)
    _roots: dict[int, bytes] = field(default_factory=dict)
    _last_positions: dict[int, int] = field(default_factory=dict)  # per checkpoint size: the log's position there
    _difference: _Difference | None = None

    def __post_init__(self) -> None:
        self._sizes = sorted({saved.checkpoint.size for saved in self.saved})
        if 0 in self._sizes:  # a checkpoint of the empty log: every log extends it
            self._roots[0], self._last_positions[0] = EMPTY_ROOT, 0

    def follow(self, position: int, event: Job.Event) -> None:
        self.follow_leaf(position, leaf_hash(bytes.fromhex(event_hash(event.canonical()))))

    def follow_leaf(self, position: int, leaf: bytes) -> None:
        index = self._builder.size
        if self.kept is not None and self._difference is None:
            kept = next(self.kept, None)
            if kept is None or kept != (position, leaf):
                self._difference = _Difference(index, position, kept[0] if kept else None)
        self._builder.add(leaf)
        if self._builder.size in self._sizes:
            self._roots[self._builder.size] = self._builder.root()
            self._last_positions[self._builder.size] = position

    def finish(self) -> None:
        if self.kept is not None and self._difference is None:
            kept = next(self.kept, None)
            if kept is not None:
                self._difference = _Difference(self._builder.size, None, kept[0])

    def problems(self) -> list[str]:
        """What is wrong, one line per checkpoint the log does not extend."""
        found = []
        holds = sorted(size for size in self._sizes if self._roots.get(size) == self._checkpoint(size).root)
        for saved in sorted(self.saved, key=lambda s: s.checkpoint.size):
            checkpoint = saved.checkpoint
            if self._roots.get(checkpoint.size) == checkpoint.root:
                continue
            if checkpoint.size > self._builder.size:
                what = (f"it covers {checkpoint.size} events but the log now holds {self._builder.size}: events "
                        "were removed")
            else:
                what = f"the log's first {checkpoint.size} events do not hash to its root"
            found.append(f"{saved.source}: the log does not extend this checkpoint ({checkpoint.origin}, tree size "
                         f"{checkpoint.size}): {what}; {self._where(checkpoint.size, holds)}")
        return found

    def _checkpoint(self, size: int) -> Checkpoint:
        return next(s.checkpoint for s in self.saved if s.checkpoint.size == size)

    def _where(self, size: int, holds: list[int]) -> str:
        difference = self._difference
        if difference is not None and difference.index < size and self.kept_agrees.get(size):
            if difference.kept_position is None:
                return f"the first bad position is {difference.log_position}"
            if difference.log_position == difference.kept_position:
                return (f"the first bad position is {difference.kept_position}: the event there is not the one "
                        "checkpointed (rewritten, or another put in its place)")
            return (f"the first bad position is {difference.kept_position}: the log's leaf {difference.index} was "
                    f"that event, and is now " + (f"the one at position {difference.log_position}"
                                                  if difference.log_position is not None else "missing"))
        earlier = [held for held in holds if held < size]
        where = (f"after position {self._last_positions[earlier[-1]]} (the log extends the checkpoint of size "
                 f"{earlier[-1]})" if earlier else "among the log's first events")
        why = ("an export alone cannot name it" if self.kept is None else
               "the tree the store keeps does not agree with the checkpoint either, so it cannot name the event")
        return f"the first bad event lies {where}, before leaf {size}: {why}"


def verify_export(records: Iterable[tuple[int, Job.Event]], saved: list[SavedCheckpoint]) -> list[str]:
    """An export checked alone: every hash chain, and the checkpoints. Chain breaks are named by position."""
    check, chains = CheckpointCheck(saved), ChainFollower()
    problems: list[str] = []
    for position, event in records:
        problems.extend(f"position {position}: {problem}" for problem in chains.follow(event))
        check.follow(position, event)
    check.finish()
    return problems + check.problems()
