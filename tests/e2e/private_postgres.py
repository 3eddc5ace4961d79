"""A PostgreSQL cluster of a test's own, which the test may stop and start (an outage) without disturbing the
suite's shared server; and a primary with a streaming hot standby, for reads from the standby and failover. As
root they run as the postgres user, which PostgreSQL requires."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.e2e.server import free_port, free_ports

WAIT_SECONDS = 30.0
STANDBY_NAME = "standby1"  # its application_name, and its replication slot on the primary


# In /usr/sbin, which a test's PATH may leave out (the bench smoke runs with a narrow one).
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"

def _bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql (tests/run installs them)")
    return versions[-1]


class PrivatePostgres:
    def __init__(self, port: int | None = None, options: str = "") -> None:
        self.bin = _bin()
        self.port = port or free_port()
        self.options = options  # more server settings, e.g. "-c wal_level=replica"
        self.dir = Path(tempfile.mkdtemp(prefix="jobstore-private-pg-"))
        os.chmod(self.dir, 0o777)
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/jobstore"

    def log_tail(self) -> str:
        log = self.dir / "log"
        return log.read_text()[-2000:] if log.exists() else ""

    def _run(self, *args: str) -> None:
        command = list(args)
        if os.geteuid() == 0:
            command = [RUNUSER, "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr}\n{self.log_tail()}")

    def create(self) -> PrivatePostgres:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "jobstore")
        return self

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
                  f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off {self.options}", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-m", "fast", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateCluster:
    """A primary and one hot standby streaming from it, each a PrivatePostgres on its own port and data directory.

    A test may crash the primary (`kill_primary`) and promote the standby, or stop and start the standby. In a
    synchronous cluster a commit on the primary waits for the standby: while the standby is down, commits hang
    (statement_timeout does not end that wait).
    """

    def __init__(self) -> None:
        primary_port, standby_port = free_ports(2)
        self.primary = PrivatePostgres(primary_port, "-c wal_level=replica -c max_wal_senders=10")
        # hot_standby_feedback: the primary's vacuum keeps the rows that a query on the standby still reads,
        # rather than the replay cancelling the query.
        self.standby = PrivatePostgres(standby_port, "-c hot_standby=on -c hot_standby_feedback=on")
        self.primary_killed = False

    @property
    def primary_url(self) -> str:
        return self.primary.url

    @property
    def standby_url(self) -> str:
        return self.standby.url

    @property
    def read_url(self) -> str:
        """Where reads go (JOBSTORE_READ_DATABASE_URL): the standby."""
        return self.standby.url

    @property
    def url(self) -> str:
        """Both servers, of which libpq takes the one that accepts writes: the primary, or after a failover the
        promoted standby."""
        return (f"postgresql://postgres@127.0.0.1:{self.primary.port},127.0.0.1:{self.standby.port}/jobstore"
                "?target_session_attrs=read-write")

    def create(self, synchronous: bool) -> PrivateCluster:
        self.primary.create()
        # A replication slot keeps on the primary the WAL that the standby has not received, however long it is
        # down. The copy is taken after createdb, so the standby has the database.
        self.standby._run(str(self.standby.bin / "pg_basebackup"), "-D", str(self.standby.data), "-d",
                          f"host=127.0.0.1 port={self.primary.port} user=postgres application_name={STANDBY_NAME}",
                          "-R", "-C", "-S", STANDBY_NAME, "-X", "stream", "-c", "fast", "--no-sync")
        self.standby.start()
        self._wait_streaming()
        if synchronous:
            # Set after the copy, so that the promoted standby does not wait for a standby of its own. `on`: a
            # commit returns once the standby has flushed its WAL, so a failover loses no acknowledged write; it
            # may not be replayed yet (remote_apply would wait for that), so reads on the standby can lag, as
            # they do in production.
            with psycopg.connect(self.primary_url, autocommit=True) as conn:
                conn.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{STANDBY_NAME}'")
                conn.execute("ALTER SYSTEM SET synchronous_commit = on")
                conn.execute("SELECT pg_reload_conf()")
            _wait("the standby to replicate synchronously", self.primary,
                  lambda: self._replication("sync_state") == "sync")
        return self

    def _replication(self, column: str) -> Any:
        """The standby's `column` in the primary's pg_stat_replication (None while it is not connected)."""
        return _query(self.primary_url,
                      f"SELECT {column} FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'")

    def _wait_streaming(self) -> None:
        _wait("the standby to stream from the primary", self.standby,
              lambda: self._replication("state") == "streaming")

    def kill_primary(self) -> None:
        """Crashes the primary as the loss of its machine would: SIGKILL to the postmaster and every process it
        started. Each of those leads a process group of its own, so they are found by their parent, with the
        postmaster stopped meanwhile so that it starts no other."""
        postmaster = int((self.primary.data / "postmaster.pid").read_text().split()[0])
        os.kill(postmaster, signal.SIGSTOP)
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        processes = [postmaster, *map(int, children)]
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.primary_killed = True
        _wait("the killed primary to be gone", self.primary,
              lambda: not any(map(_alive, processes)) and _refuses(self.primary.port))

    def promote_standby(self) -> None:
        """Makes the standby a primary (there is no standby after that)."""
        self.standby._run(str(self.standby.bin / "pg_ctl"), "-D", str(self.standby.data), "-w", "promote")
        _wait("the promoted standby to leave recovery", self.standby,
              lambda: _query(self.standby_url, "SELECT pg_is_in_recovery()") is False)

    def stop_standby(self) -> None:
        self.standby.stop()

    def start_standby(self) -> None:
        """Starts the stopped standby, and waits until it streams from the primary again."""
        self.standby.start()
        self._wait_streaming()

    def destroy(self) -> None:
        self.standby.destroy()
        if self.primary_killed:
            # pg_ctl would signal the killed postmaster's pid, which may be another process's by now.
            shutil.rmtree(self.primary.dir, ignore_errors=True)
        else:
            self.primary.destroy()


def _query(url: str, query: str) -> Any:
    """The first column of the first row (None without rows)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def _alive(pid: int) -> bool:
    """Whether the process runs: a zombie does not (PID 1 may not reap a postmaster whose pg_ctl has exited)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True
    except OSError:  # e.g. a timeout: not refused yet
        return False


def _wait(what: str, server: PrivatePostgres, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        with contextlib.suppress(psycopg.OperationalError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {WAIT_SECONDS:.0f} s for {what}; the server's log ends:\n{server.log_tail()}")
        time.sleep(0.05)
