"""The README's wait-for-job recipe, run as written against a real server on both stores: a client waits for a
job to finish through a watch and learns of the end within a fraction of the SDK's poll period
(rime_sdk Job.get_status(wait_until_finish=True) asks every 5 s by default)."""
from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import unique
from tests.e2e.conftest import Keys
from tests.e2e.server import Server, ok, upsert

README = Path(__file__).resolve().parents[2] / "README.md"
SDK_POLL_SECONDS = 5.0


def recipe() -> Any:
    text = README.read_text().split("<!-- wait-for-job recipe -->", 1)[1]
    code = re.search(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert code is not None, "the README lost its wait-for-job recipe"
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "README.md (wait-for-job recipe)", "exec"), namespace)
    return namespace["wait_for_job"]


def test_a_client_waiting_through_a_watch_learns_of_the_end_at_once(server: Server, keys: Keys) -> None:
    wait_for_job = recipe()
    job_id = unique("awaited-job:ünïcode")  # quoted in the URL by the recipe
    for status in (None, "JOB_STATUS_PENDING", "JOB_STATUS_RUNNING"):
        job = {"jobId": job_id} if status else {"jobId": job_id, "jobType": "JOB_TYPE_IMAGE_BUILDER"}
        if status:
            job["status"] = status
        ok(upsert(server, keys.writer, job, {"status": True} if status else None))
    finished: dict[str, Any] = {}

    def waiter() -> None:
        finished["job"] = wait_for_job("127.0.0.1", server.port, keys.reader, job_id)
        finished["at"] = time.monotonic()

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    time.sleep(0.5)  # the waiter has read the job and is watching
    assert thread.is_alive()
    ok(upsert(server, keys.writer, {"jobId": job_id, "status": "JOB_STATUS_SUCCEEDED"}, {"status": True}))
    acknowledged = time.monotonic()
    thread.join(SDK_POLL_SECONDS)
    assert not thread.is_alive(), "the waiter did not learn of the end within the SDK's poll period"
    learned = finished["at"] - acknowledged
    print(f"learned of the end {learned * 1000:.1f} ms after the write was acknowledged")
    assert finished["job"]["status"] == "JOB_STATUS_SUCCEEDED" and learned < SDK_POLL_SECONDS / 5
    # A job that has finished already is answered at once, from the read.
    assert wait_for_job("127.0.0.1", server.port, keys.reader, job_id)["status"] == "JOB_STATUS_SUCCEEDED"


def test_the_readme_watch_walkthrough_shows_each_change_as_it_happens(server: Server, keys: Keys) -> None:
    text = README.read_text().split("<!-- watch walkthrough -->", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, flags=re.DOTALL)
    assert block is not None, "the README lost its watch walkthrough"
    done = subprocess.run(["bash", "-c", block.group(1)], capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "KEY": keys.writer, "API": server.base})
    assert done.returncode == 0, done.stderr
    events = [chunk.splitlines() for chunk in done.stdout.strip().split("\n\n")]
    kinds = [next((line.removeprefix("event: ") for line in lines if line.startswith("event: ")), "change")
             for lines in events]
    data = [json.loads(next(line.removeprefix("data: ") for line in lines if line.startswith("data: ")))
            for lines in events]
    assert kinds == ["bookmark", "change", "change", "leave"], done.stdout
    assert [d["job"]["status"] for d in data[1:]] == ["JOB_STATUS_REQUESTED", "JOB_STATUS_PENDING",
                                                       "JOB_STATUS_FAILED"]
    assert data[0]["position"] < data[1]["position"] < data[2]["position"] < data[3]["position"]
