"""Revoking a key takes effect on every API process, even those that have just accepted it."""
from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.conftest import StoreLocation
from tests.e2e.server import Server


def test_a_revoked_key_is_refused_by_every_api_process_that_had_accepted_it(store: StoreLocation,
                                                                          tmp_path: Path) -> None:
    url, schema = store
    first = Server(tmp_path / "one", url, schema, serve_args=("--no-projections",))
    key = first.key("reader", "soon-revoked")
    first.start()
    # A second API process on the same store (on SQLite: the same file, as two processes on one host).
    second = Server(tmp_path / "one" if url is None else tmp_path / "two", url, schema,
                    serve_args=("--no-projections",))
    second.start()
    try:
        for server in (first, second):
            for _ in range(3):  # accepted (and, where it is safe, remembered)
                assert server.call("GET", "/v1/jobs/nothing-here", key=key).status == 404
        revoked = first.cli("keys", "revoke", "soon-revoked")
        assert revoked.returncode == 0, revoked.stderr
        for server in (first, second):
            deadline = time.monotonic() + 0.5
            while (status := server.call("GET", "/v1/jobs/nothing-here", key=key).status) != 401:
                assert time.monotonic() < deadline, f"still {status} half a second after the revocation"
                time.sleep(0.01)
    finally:
        first.stop()
        second.stop()
