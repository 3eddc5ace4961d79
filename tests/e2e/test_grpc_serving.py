"""`jobstore serve` and its gRPC port: loopback unless told otherwise, off with --grpc-port 0, a clear refusal when
the port is taken, served with --no-projections too, and drained on SIGTERM like the HTTP requests."""
from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_status import rpc_status

from jobstore.adapters.grpc.protos import rime_jobs_pb2 as rime
from jobstore.adapters.grpc.protos import rime_jobs_pb2_grpc as rime_grpc
from tests.e2e.conftest import StoreLocation
from tests.e2e.server import JOBSTORE, Server, free_ports

DEFAULT_GRPC_PORT = 50051
LISTEN = "0A"


def address_of(hexadecimal: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (32-bit words in host order), as text; an IPv4-mapped IPv6
    address (how grpcio binds 127.0.0.1) as its IPv4 address."""
    words = bytes.fromhex(hexadecimal)
    raw = b"".join(words[i:i + 4][::-1] for i in range(0, len(words), 4)) if sys.byteorder == "little" else words
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def listening_ports(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every socket the process listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if columns[3] == LISTEN and columns[9] in inodes:
                address, port = columns[1].split(":")
                ports.add((address_of(address), int(port, 16)))
    return ports


def anyone_listens_on(port: int) -> bool:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            columns = line.split()
            if columns[3] == LISTEN and int(columns[1].split(":")[1], 16) == port:
                return True
    return False


def wait_until_serving(process: subprocess.Popen[str], log: Path) -> None:
    """Until the process says it serves (it says so once both servers are bound)."""
    deadline = time.monotonic() + 30
    while "jobstore serving" not in log.read_text():
        assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, "serve did not start:\n" + log.read_text()
        time.sleep(0.1)


def test_grpc_binds_to_loopback_on_port_50051_unless_told_otherwise(tmp_path: Path) -> None:
    http_port, other_port = free_ports(2)
    # The default port, unless something on this machine holds it already: then the test names a free one.
    grpc_port = DEFAULT_GRPC_PORT if not anyone_listens_on(DEFAULT_GRPC_PORT) else other_port
    chosen = () if grpc_port == DEFAULT_GRPC_PORT else ("--grpc-port", str(grpc_port))
    env = {"PATH": str(Path(JOBSTORE).parent) + ":/usr/bin:/bin", "JOBSTORE_HOME": str(tmp_path)}
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        process = subprocess.Popen([JOBSTORE, "serve", "--port", str(http_port), *chosen], env=env, cwd=tmp_path,
                                   stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_serving(process, log)
        assert f"gRPC on 127.0.0.1:{grpc_port}" in log.read_text()
        assert listening_ports(process.pid) == {("127.0.0.1", http_port), ("127.0.0.1", grpc_port)}, (
            "bound beyond 127.0.0.1, or not to both ports")
    finally:
        process.terminate()
        process.wait(15)


def test_grpc_port_0_serves_no_grpc(tmp_path: Path) -> None:
    server = Server(tmp_path / "home", serve_args=("--grpc-port", "0")).start()
    try:
        assert server.process is not None
        wait_until_serving(server.process, server.log_path)
        assert "(gRPC off)" in server.log()
        assert listening_ports(server.process.pid) == {("127.0.0.1", server.port)}
        assert server.call("GET", "/healthz").status == 200
    finally:
        server.stop()


def test_a_grpc_port_already_taken_is_a_clear_refusal_with_status_2(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        server = Server(tmp_path / "home")
        done = subprocess.run([server.executable, "serve", "--host", "127.0.0.1", "--port", str(server.port),
                               "--grpc-port", str(taken)], env=server.env, cwd=server.home, capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"cannot serve gRPC on 127.0.0.1:{taken}" in done.stderr
    assert "--grpc-port" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_sigterm_lets_an_in_flight_grpc_call_finish_then_exits_cleanly(store: StoreLocation, tmp_path: Path) -> None:
    url, schema = store
    server = Server(tmp_path / "home", url, schema, serve_args=("--no-projections",))
    key = server.key("admin", "ops")
    server.start()
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            # --no-projections still serves gRPC.
            _, written = rime_grpc.JobManagerStub(channel).UpsertJob.with_call(
                rime.UpsertJobRequest(job_id="slow", job_type=rime.JOB_TYPE_IMAGE_BUILDER),
                metadata=[("rime-api-key", key)], timeout=30)
            position = dict(written.trailing_metadata())["x-jobstore-position"]
            errors: list[grpc.RpcError] = []

            def read_slowly() -> None:
                # No projection worker runs, so this read waits its full 5 s for the views: a long call in flight.
                try:
                    rime_grpc.JobReaderStub(channel).GetJob(
                        rime.GetJobRequest(job_id="slow"), timeout=30,
                        metadata=[("rime-api-key", key), ("x-jobstore-min-position", position)])
                except grpc.RpcError as error:
                    errors.append(error)

            slow = threading.Thread(target=read_slowly)
            slow.start()
            time.sleep(1.0)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            slow.join(30)
        assert len(errors) == 1, errors
        assert errors[0].code() == grpc.StatusCode.DEADLINE_EXCEEDED, errors[0]
        status = rpc_status.from_call(errors[0])
        assert status is not None and status.code == 4, "the server's answer, not the client's deadline"
        assert server.process.wait(30) == 0, server.log()
        assert "in-flight requests and calls finished" in server.log()
    finally:
        server.stop()
