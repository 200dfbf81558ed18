"""PostgreSQL faults for the fault tests: restart the local cluster, find and terminate the server
processes (backends) serving the connections of the jobq processes a test started.

Backends are found by the client's TCP port: the test reads which local ports the given process
ids hold towards the server (``/proc/<pid>/fd`` and ``/proc/net/tcp``), and terminates only the
backends whose ``client_port`` is one of them. Connections of anything else on the server (the
test's own, another test's, an operator's) are never touched."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Collection, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

from tests.pgcluster import cluster_version, make_sure_postgres_answers, pg_isready

__all__ = [
    "backend_pids",
    "client_ports",
    "cluster_version",
    "make_sure_postgres_answers",
    "pg_isready",
    "ports_by_pid",
    "restart",
    "restart_watched",
    "start",
    "stop",
    "terminate",
    "wait_until_up",
]


def _socket_inodes(pid: int) -> set[int]:
    found: set[int] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        names = os.listdir(fd_dir)
    except OSError:  # the process is gone
        return found
    for name in names:
        try:
            target = os.readlink(fd_dir / name)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(int(target[8:-1]))
    return found


def client_ports(pids: Iterable[int], server_port: int) -> set[int]:
    """The local TCP ports by which the processes ``pids`` are connected to ``server_port``."""
    return set().union(*ports_by_pid(pids, server_port).values())


def ports_by_pid(pids: Iterable[int], server_port: int) -> dict[int, set[int]]:
    """pid -> the local TCP ports by which that process is connected to ``server_port``
    (connections it holds; one reading of the socket tables for all of them)."""
    owner: dict[int, int] = {}
    found: dict[int, set[int]] = {}
    for pid in pids:
        found[pid] = set()
        owner |= dict.fromkeys(_socket_inodes(pid), pid)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            pid = owner.get(inode)
            if pid is not None and int(remote.rsplit(":", 1)[1], 16) == server_port:
                found[pid].add(int(local.rsplit(":", 1)[1], 16))
    return found


def server_port(dsn: str) -> int:
    return urlsplit(dsn).port or 5432


def backend_pids(dsn: str, pids: Collection[int]) -> dict[int, str]:
    """backend pid -> application_name of every server process serving one of ``pids``."""
    ports = client_ports(pids, server_port(dsn))
    if not ports:
        return {}
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND client_port = ANY(%s)",
            (sorted(ports),),
        ).fetchall()
    return {int(pid): str(name) for pid, name in rows}


def terminate(dsn: str, backends: Iterable[int]) -> int:
    """``pg_terminate_backend`` each of ``backends``; how many were terminated."""
    wanted = sorted(backends)
    if not wanted:
        return 0
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        rows: list[Any] = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (wanted,)
        ).fetchall()
    return sum(1 for (done,) in rows if done)


def restart(version: str, mode: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``pg_ctlcluster -m MODE VERSION main restart``: returns when the server has started."""
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", mode, version, "main", "restart"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stop(version: str, mode: str = "fast") -> float:
    """``pg_ctlcluster -m MODE VERSION main stop``: the monotonic time the server was down."""
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", mode, version, "main", "stop"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"pg_ctlcluster stop: {done.stdout}{done.stderr}"
    return time.monotonic()


def start(version: str) -> float:
    """``pg_ctlcluster VERSION main start``, with ``pg_isready`` polled every 50 ms while it
    runs: the monotonic time the server first accepted connections (the command itself returns
    only some time after that)."""
    with _pg_ctl(version, "main", "start"):
        return wait_until_up(timeout=60)


@contextlib.contextmanager
def _pg_ctl(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``pg_ctlcluster ARGS`` running while the block polls the server; after it, the command
    must have ended well (it is killed if the block failed first)."""
    command = subprocess.Popen(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield command
        output, _ = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait(10)
    assert command.returncode == 0, output


def wait_until_up(timeout: float = 30) -> float:
    """Poll ``pg_isready`` until the server accepts connections: the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while not pg_isready():
        if time.monotonic() > deadline:
            raise AssertionError(f"PostgreSQL not ready {timeout} s after its restart")
        time.sleep(0.05)
    return time.monotonic()


def restart_watched(version: str, mode: str) -> tuple[float, float, float]:
    """Restart the cluster while ``pg_isready`` is polled every 50 ms: (the restart began, the
    server was first seen down, it was first seen up again), monotonic. The restart command
    returns only after the server is up; the poll says when it really came back."""
    began = time.monotonic()
    down: float | None = None
    up: float | None = None
    deadline = began + 60
    with _pg_ctl("-m", mode, version, "main", "restart") as restarting:
        while up is None:
            if time.monotonic() > deadline:
                raise AssertionError("PostgreSQL did not come back within 60 s of its restart")
            ready = pg_isready()
            if down is None and not ready:
                down = time.monotonic()
            elif down is not None and ready:
                up = time.monotonic()
            elif down is None and restarting.poll() is not None:  # down between two polls
                down = up = time.monotonic() if ready else None
            time.sleep(0.05)
    assert down is not None
    return began, down, up
