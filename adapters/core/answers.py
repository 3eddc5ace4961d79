"""Answers kept for reads that show what an earlier read showed (JobRead.answer_key): a client polling a job
that has not changed gets the bytes built for the last read, and the server skips building the job, its
message and its encoding again. The oldest answers go first once the kept ones hold MAX_BYTES; an answer larger
than MAX_ANSWER_BYTES is not kept. Used from the event loop only."""
from __future__ import annotations

from collections.abc import Callable, Hashable

MAX_BYTES = 16 * 1024 * 1024
MAX_ANSWER_BYTES = 256 * 1024


class KeptAnswers:
    def __init__(self, max_bytes: int = MAX_BYTES, max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self._kept: dict[Hashable, bytes] = {}
        self._bytes = 0
        self._max_bytes = max_bytes
        self._max_answer_bytes = max_answer_bytes

    def answer(self, encoding: str, key: Hashable | None, build: Callable[[], bytes]) -> bytes:
        """The answer in `encoding` kept for reads with `key`, or the one `build` makes (and kept, unless `key`
        is None)."""
        if key is None:
            return build()
        kept = self._kept.get((encoding, key))
        if kept is None:
            kept = build()
            self._keep((encoding, key), kept)
        return kept

    def _keep(self, key: Hashable, answer: bytes) -> None:
        if len(answer) > self._max_answer_bytes:
            return
        self._kept[key] = answer
        self._bytes += len(answer)
        while self._bytes > self._max_bytes:
            oldest = next(iter(self._kept))
            self._bytes -= len(self._kept.pop(oldest))

    def __len__(self) -> int:
        return len(self._kept)
