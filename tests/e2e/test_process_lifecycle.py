"""The server process: it binds to loopback unless told otherwise, and on SIGTERM lets in-flight requests finish."""
from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.e2e.conftest import StoreLocation
from tests.e2e.server import JOBSTORE, Reply, Server, free_port


def test_serve_binds_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    port = free_port()
    env = {"PATH": str(Path(JOBSTORE).parent) + ":/usr/bin:/bin", "JOBSTORE_HOME": str(tmp_path)}
    process = subprocess.Popen([JOBSTORE, "serve", "--port", str(port)], env=env, cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "serve did not start"
                time.sleep(0.1)
        listening = Path("/proc/net/tcp").read_text().splitlines()[1:]
        local = [line.split()[1] for line in listening if line.split()[3] == "0A"]  # state LISTEN
        ours = [address for address in local if int(address.split(":")[1], 16) == port]
        assert ours == [f"0100007F:{port:04X}"], f"bound to {ours}, not 127.0.0.1 only"
    finally:
        process.terminate()
        process.wait(15)


def test_sigterm_lets_an_in_flight_request_finish_then_exits_cleanly(store: StoreLocation, tmp_path: Path) -> None:
    url, schema = store
    server = Server(tmp_path / "home", url, schema, serve_args=("--no-projections",))
    key = server.key("admin", "ops")
    server.start()
    try:
        written = server.call("POST", "/v1/jobs:upsert", {"job": {"jobId": "slow",
                                                                  "jobType": "JOB_TYPE_IMAGE_BUILDER"}}, key=key)
        position = written.headers["x-jobstore-position"]
        replies: list[Reply] = []
        # No projection worker runs, so this read waits its full 5 s for the views: a long in-flight request.
        slow = threading.Thread(target=lambda: replies.append(
            server.call("GET", f"/v1/jobs/slow?minPosition={position}", key=key)))
        slow.start()
        time.sleep(1.0)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        slow.join(30)
        assert replies and replies[0].status == 504 and replies[0].body["code"] == 4, replies
        assert server.process.wait(30) == 0
    finally:
        server.stop()


def test_sigterm_stops_a_projection_worker_between_batches_and_it_exits_cleanly(store: StoreLocation,
                                                                               tmp_path: Path) -> None:
    from tests.e2e.server import Worker

    url, schema = store
    api = Server(tmp_path / "home", url, schema, serve_args=("--no-projections",),
                 extra_env={"JOBSTORE_PROJECTION_BATCH_SIZE": "3"})
    key = api.key("admin", "ops")
    api.start()
    try:
        for n in range(60):
            api.call("POST", "/v1/jobs:upsert", {"job": {"jobId": f"t-{n}", "jobType": "JOB_TYPE_IMAGE_BUILDER"}},
                     key=key)
        worker = Worker(api, "first").start()
        worker.wait_until_projecting()  # a SIGTERM before the handler is in place kills it: not what is tested
        time.sleep(0.5)
        assert worker.process is not None
        worker.process.send_signal(signal.SIGTERM)
        assert worker.process.wait(15) == 0
        assert "stopping" in worker.log()
        finisher = Worker(api, "second").start()
        try:
            reply = api.call("GET", "/v1/jobs/t-59?minPosition=60", key=key)
            assert reply.status == 200, reply.body
            verified = api.cli("audit", "verify")
            assert verified.returncode == 0, verified.stdout + verified.stderr
        finally:
            finisher.stop()
    finally:
        api.stop()
