"""The long concurrency soak of issue 5: eight processes with several threads each send random commands to 50
jobs for 30 seconds through the HTTP API; then every promise is checked (see tests/soak.py)."""
from __future__ import annotations

from collections import Counter

from bench.harness import Figure, serving
from jobstore.adapters.settings import Settings
from tests import soak


def run(settings: Settings, processes: int, threads: int, jobs: int, seconds: float) -> list[Figure]:
    with serving(settings) as (server, key):
        answers = soak.run(server.base, key, processes, threads, jobs, seconds)
        events = soak.feed(server.base, key)
        found = soak.problems(answers, events)
        last = max((e["position"] for e in events), default=0)
        caught_up = server.call("GET", f"/v1/jobs?minPosition={last}", key=key).status == 200
        verified = server.cli("audit", "verify", timeout=600).returncode == 0
    statuses = Counter(a.status for a in answers)
    for problem in found[:20]:
        print("soak problem:", problem)
    label = f"{processes} processes x {threads} threads, {jobs} jobs, {seconds:.0f} s"
    return [
        Figure(f"soak {label}: commands answered", len(answers), ""),
        *(Figure(f"soak: answered {code}", statuses[code], "") for code in sorted(statuses) if code < 500),
        Figure("soak: 5xx answers", sum(n for s, n in statuses.items() if s >= 500), "", None, "0",
               all(s < 500 for s in statuses)),
        Figure("soak: broken promises (log vs answers, illegal paths)", len(found), "", None, "0", not found),
        Figure("soak: views caught up and verify clean (1 = yes)", float(caught_up and verified), "", None, "1",
               caught_up and verified),
    ]
