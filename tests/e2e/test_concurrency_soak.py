"""Several processes and threads send random commands to a few jobs at once (a short soak; the long one is in
the benchmark command): no 5xx, every answered change is in the log exactly once, every status path is legal,
and the views equal the replayed log."""
from __future__ import annotations

from collections import Counter

from tests import soak
from tests.e2e.conftest import Keys
from tests.e2e.server import Server


def test_concurrent_random_commands_keep_every_promise(server: Server, keys: Keys) -> None:
    answers = soak.run(server.base, keys.admin, processes=2, threads=3, jobs=6, seconds=4)
    assert len(answers) > 50
    assert Counter(a.status for a in answers)[200] > 10
    events = soak.feed(server.base, keys.admin)
    assert soak.problems(answers, events) == []
    last = max(e["position"] for e in events)
    assert server.call("GET", f"/v1/jobs?minPosition={last}", key=keys.reader).status == 200
    verified = server.cli("audit", "verify", timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
