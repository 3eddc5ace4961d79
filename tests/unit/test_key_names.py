"""A key's name becomes the actor of every event its key writes: it is printable and has no surrounding spaces."""
from __future__ import annotations

import pytest

from jobstore.adapters.core.access import Role
from jobstore.adapters.keys import KeyStore, key_name_problem
from jobstore.domain.errors import InvalidArgument

REFUSED = {"escape": "adm\x1b[31min", "newline": "adm\nin", "zero-width space": "adm\u200bin",
           "byte order mark": "\ufeffadmin", "right-to-left override": "adm\u202ein", "C1 control": "adm\x85in",
           "line separator": "adm\u2028in", "leading space": " admin", "trailing space": "admin ",
           "trailing no-break space": "admin\u00a0", "tab": "\tadmin", "empty": ""}


@pytest.mark.parametrize("name", REFUSED.values(), ids=REFUSED.keys())
def test_a_name_with_an_unprintable_character_or_surrounding_spaces_is_refused(name: str) -> None:
    assert key_name_problem(name) is not None


@pytest.mark.parametrize("name", ["ci-agent", "Opérateur Zoë", "admin@example.com", "東京 writer", "a/b:c"])
def test_a_printable_name_is_accepted(name: str) -> None:
    assert key_name_problem(name) is None


def test_the_key_store_refuses_such_a_name_before_storing_anything() -> None:
    class NoTable:
        def insert(self, *_: object) -> bool:
            raise AssertionError("a refused name reached the table")

    with pytest.raises(InvalidArgument, match=r"U\+200B, ZERO WIDTH SPACE"):
        KeyStore(NoTable()).create(Role.ADMIN, "adm\u200bin")  # type: ignore[arg-type]
