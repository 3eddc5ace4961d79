"""The README's five-minute walkthrough, run as written (its curl commands) against a real server."""
from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

from tests.e2e.conftest import Keys
from tests.e2e.server import Server

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## A five-minute walkthrough", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"(?:^    .*\n|^\n)+", section, flags=re.MULTILINE)
    commands = [textwrap.dedent(b).strip() for b in blocks if "curl" in b]
    assert len(commands) >= 6, "the walkthrough lost its curl commands"
    return commands


def run_block(block: str, server: Server, key: str) -> list[dict[str, object]]:
    """Run one README block with bash; returns the JSON documents its curl commands printed."""
    done = subprocess.run(["bash", "-c", block.replace("curl -s ", "curl -s -w '\\n' ")], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "KEY": key, "API": server.base}, timeout=30)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def test_the_readme_walkthrough_works_as_written(server: Server, keys: Keys) -> None:
    blocks = walkthrough_blocks()
    outputs = [run_block(block, server, keys.admin) for block in blocks]
    *happy, last = outputs
    for block, documents in zip(blocks, happy, strict=False):
        assert documents, f"no output from:\n{block}"
        assert all("code" not in d for d in documents), f"{block}\n-> {documents}"
    assert last[0]["code"] == 9, "the walkthrough's last step shows a refused transition"

    reads = next(docs for block, docs in zip(blocks, outputs, strict=True) if "JOB_VIEW_FULL" in block)
    basic, full, listed = reads
    assert "jobProgressStr" not in basic["job"]
    assert full["job"]["jobProgressStr"] == "1 / 2 tests completed"
    assert [j["jobId"] for j in listed["jobs"]] == ["walk-1"]
    final = server.call("GET", "/v1/jobs/walk-1", key=keys.reader).body["job"]
    assert final["status"] == "JOB_STATUS_CANCELLED" and "completionTime" in final
