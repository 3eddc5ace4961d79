"""The answers kept for reads that show what an earlier read showed (adapters/core/answers.py)."""
from __future__ import annotations

from jobstore.adapters.core.answers import KeptAnswers


class Builds:
    """An answer builder that counts its builds."""

    def __init__(self, answer: bytes) -> None:
        self.answer, self.count = answer, 0

    def __call__(self) -> bytes:
        self.count += 1
        return self.answer


def test_an_answer_is_built_once_per_key_and_encoding() -> None:
    kept, json, protobuf = KeptAnswers(), Builds(b'{"job":1}'), Builds(b"\x0a\x01")
    for _ in range(3):
        assert kept.answer("json", ("job-1", 4), json) == b'{"job":1}'
        assert kept.answer("protobuf", ("job-1", 4), protobuf) == b"\x0a\x01"
    assert (json.count, protobuf.count) == (1, 1) and len(kept) == 2


def test_a_read_without_a_key_is_built_every_time_and_kept_nowhere() -> None:
    kept, build = KeptAnswers(), Builds(b"x")
    for _ in range(3):
        assert kept.answer("json", None, build) == b"x"
    assert build.count == 3 and len(kept) == 0


def test_the_oldest_answers_go_first_once_the_kept_bytes_pass_the_limit() -> None:
    kept = KeptAnswers(max_bytes=30, max_answer_bytes=10)
    for version in range(3):
        kept.answer("json", version, lambda: b"0123456789")
    assert len(kept) == 3
    kept.answer("json", 3, lambda: b"0123456789")
    assert len(kept) == 3
    rebuilt = Builds(b"0123456789")
    kept.answer("json", 0, rebuilt)  # gone: built again (and the next oldest goes)
    kept.answer("json", 3, rebuilt)  # still kept
    assert rebuilt.count == 1


def test_an_answer_larger_than_the_limit_for_one_is_not_kept() -> None:
    kept, big = KeptAnswers(max_bytes=100, max_answer_bytes=10), Builds(b"x" * 11)
    kept.answer("json", "big", big)
    kept.answer("json", "big", big)
    assert big.count == 2 and len(kept) == 0
