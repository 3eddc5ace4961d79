"""A real `jobstore serve` process for end-to-end tests, driven through the CLI, HTTP and gRPC (API keys are made
in-process, see `Server.key`)."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobstore.adapters.core.access import Role
from jobstore.adapters.runtime import open_services
from jobstore.adapters.settings import Settings

JOBSTORE = shutil.which("jobstore", path=str(Path(sys.executable).parent)) or "jobstore"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: held open together while chosen, so that no two are the same (two ports
    chosen one after the other can be, and a server's HTTP and gRPC ports must not be)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _terminate(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, and SIGKILL if it has not exited within 15 s."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


def ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.body)
    return reply


def upsert(server: Server, key: str, job: dict[str, Any], mask: dict[str, Any] | None = None) -> Reply:
    body: dict[str, Any] = {"job": job}
    if mask is not None:
        body["writeMask"] = mask
    return server.call("POST", "/v1/jobs:upsert", body, key=key)


class Server:
    def __init__(self, home: Path, database_url: str | None = None, schema: str | None = None,
                 serve_args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
                 executable: str = JOBSTORE) -> None:
        self.home = home
        self.executable = executable
        home.mkdir(parents=True, exist_ok=True)
        self.port, self.grpc_port = free_ports(2)
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSTORE_")}
        self.env["JOBSTORE_HOME"] = str(home)
        if database_url:
            self.env["JOBSTORE_DATABASE_URL"] = database_url
        if schema:
            self.env["JOBSTORE_DATABASE_SCHEMA"] = schema
        self.env.update(extra_env or {})
        self.serve_args = serve_args
        self.process: subprocess.Popen[str] | None = None
        self.log_path = home / "serve.log"

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.executable, *args], capture_output=True, text=True, env=self.env, timeout=timeout,
                              cwd=self.home)

    def key(self, role: str, name: str | None = None) -> str:
        """A new API key, made in this process through the key store `jobstore keys create` uses (a second and a
        half of a test module's setup less than four CLI runs; tests/e2e/test_cli.py runs the command itself)."""
        if self.executable != JOBSTORE:  # another version of jobstore: its own command
            args = ["keys", "create", "--role", role] + (["--name", name] if name else [])
            done = self.cli(*args)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip().splitlines()[-1]
        services = open_services(Settings.from_environment(self.env))
        try:
            return services.keys.create(Role(role), name)[1]
        finally:
            services.close()

    def start(self, wait: float = 30) -> Server:
        """Start `jobstore serve` and wait until it listens. A process that dies at once without a word is
        started once more (a new port), and what is known of the first death is kept in serve-first-exit.log."""
        try:
            return self._start(wait)
        except RuntimeError as first:
            if self.process is None or self.process.returncode is None or self.log().strip():
                raise
            (self.home / "serve-first-exit.log").write_text(str(first))
            self.port, self.grpc_port = free_ports(2)
            self.base = f"http://127.0.0.1:{self.port}"
            return self._start(wait)

    def _start(self, wait: float) -> Server:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "serve.log"
        log = open(self.log_path, "w")  # noqa: SIM115 - the server process writes to it until stop()
        grpc = () if "--grpc-port" in self.serve_args else ("--grpc-port", str(self.grpc_port))
        self.process = subprocess.Popen([self.executable, "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                         *grpc, *self.serve_args],
                                        env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                                        text=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jobstore serve exited with status {self.process.returncode}:\n"
                                   + self.log_path.read_text())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("jobstore serve did not listen in time:\n" + self.log_path.read_text())

    def stop(self) -> None:
        _terminate(self.process)

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def call(self, method: str, path: str, body: Any = None, key: str | None = None, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"content-type": "application/json"} if data is not None else {}
        if key:
            sent["rime-api-key"] = key
        sent.update(headers or {})
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text, status, got = response.read().decode(), response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            text, status, got = error.read().decode(), error.code, dict(error.headers)
        try:
            parsed = json.loads(text) if text else {}
        except json.JSONDecodeError:
            parsed = text
        return Reply(status, parsed, {k.lower(): v for k, v in got.items()})

    def eventually(self, path: str, key: str, check: Any, timeout: float = 10) -> Reply:
        """GET `path` until `check(reply)` holds (views are eventually consistent) or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.call("GET", path, key=key)
            if check(reply) or time.monotonic() > deadline:
                return reply
            time.sleep(0.02)


class Worker:
    """A `jobstore project` process on the same store as `server`."""

    def __init__(self, server: Server, name: str) -> None:
        self.server = server
        self.log_path = server.home / f"worker-{name}.log"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> Worker:
        log = open(self.log_path, "a")  # noqa: SIM115 - the worker writes to it until it ends
        self.process = subprocess.Popen([JOBSTORE, "project"], env=self.server.env, cwd=self.server.home,
                                        stdout=log, stderr=subprocess.STDOUT, text=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_until_projecting(self, timeout: float = 30) -> None:
        """Until the worker has said it is projecting, which it says once its SIGTERM handler is in place."""
        deadline = time.monotonic() + timeout
        while "jobstore projecting" not in self.log():
            assert self.process is not None and self.process.poll() is None, f"the worker ended: {self.log()}"
            assert time.monotonic() < deadline, f"the worker did not start within {timeout} s: {self.log()}"
            time.sleep(0.05)

    def is_active(self) -> bool:
        lines = [line for line in self.log().splitlines() if line.startswith("active for:")]
        return bool(lines) and "JOB_VIEW" in lines[-1]

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        _terminate(self.process)
