"""SQLite's doorbell (``store/sqlite/doorbell.py``): an enqueue rings every process listening
on the database at once. Here the commit watcher is slowed to one look every 30 s and the pool
polls every 30 s, so only the doorbell explains a job from another connection starting within
seconds; and what a listener leaves behind (its socket, or a dead process's) is cleaned up."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store.sqlite import watch
from jobq.store.sqlite.doorbell import Ringer, wake_directory
from jobq.worker import PoolConfig
from tests.helpers import wait_for


async def test_an_enqueue_elsewhere_rings_the_pool_awake(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watch, "WATCH_INTERVAL", 30.0)
    url = f"sqlite:///{db_path}"
    async with JobQueue(url) as worker_side, JobQueue(url) as producer:
        pool = worker_side.worker_pool(PoolConfig(worker_count=2, poll_interval=30))
        await pool.start()
        try:
            directory = Path(wake_directory(str(db_path)))
            await wait_for(lambda: any(directory.glob("*")), timeout=10, what="the doorbell")
            await asyncio.sleep(0.2)  # the pool's first claim, at start-up, has come back empty
            for _ in range(3):
                began = time.monotonic()
                job = await producer.enqueue("echo", {"n": 1})
                done = await producer.wait(job.id, timeout=20, interval=0.01)
                assert done.status is JobState.SUCCEEDED
                assert time.monotonic() - began < 5  # the watcher would have taken 30 s
        finally:
            await pool.stop(grace=5)
    assert not Path(wake_directory(str(db_path))).exists()  # the last listener tidied up


def test_a_ring_removes_the_socket_of_a_process_that_is_gone(tmp_path: Path) -> None:
    database = str(tmp_path / "jobq.db")
    directory = Path(wake_directory(database))
    directory.mkdir()
    alive = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    alive.bind(str(directory / "alive"))
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(directory / "dead"))
    dead.close()  # as a killed process leaves it: the file stays, nobody reads
    ringer = Ringer(database)
    try:
        ringer.ring()
    finally:
        ringer.close()
    assert sorted(os.listdir(directory)) == ["alive"]
    assert alive.recv(8) == b"!"
    alive.close()


def test_a_ring_with_nobody_listening_does_nothing(tmp_path: Path) -> None:
    ringer = Ringer(str(tmp_path / "jobq.db"))
    ringer.ring()
    ringer.close()
    assert list(tmp_path.iterdir()) == []


def _listener(directory: Path, name: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(directory / name))
    sock.setblocking(False)
    return sock


def _age(directory: Path, seconds: float = 60) -> None:
    """Set the directory's modification time ``seconds`` into the past."""
    then = time.time() - seconds
    os.utime(directory, (then, then))


def test_a_listener_that_binds_after_a_ring_is_rung_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ringer keeps the directory's listing while the directory is unchanged: one that
    was listed long ago is not read again at each ring, and a listener bound since is still
    rung, whether it came just after the listing (the same tick of the file system's clock)
    or long after it."""
    database = str(tmp_path / "jobq.db")
    directory = Path(wake_directory(database))
    directory.mkdir()
    first = _listener(directory, "first")
    _age(directory)
    listings = 0
    real_scandir = os.scandir

    def counting_scandir(path: str) -> object:
        nonlocal listings
        listings += 1
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", counting_scandir)
    ringer = Ringer(database)
    sockets = [first]
    try:
        ringer.ring()
        ringer.ring()
        assert listings == 1  # unchanged since: the listing is kept
        assert first.recv(8) == b"!" and first.recv(8) == b"!"

        soon = _listener(directory, "soon")  # right after a listing
        sockets.append(soon)
        ringer.ring()
        assert soon.recv(8) == b"!"

        _age(directory)
        ringer.ring()
        late = _listener(directory, "late")  # long after it
        sockets.append(late)
        ringer.ring()
        assert late.recv(8) == b"!"
    finally:
        ringer.close()
        for sock in sockets:
            sock.close()


def test_a_listener_bound_in_the_tick_of_a_listing_is_rung_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file system whose clock ticks coarsely leaves the directory's times as they were when
    a socket is bound in the same tick as a listing: such a listing is not kept, so the socket
    is rung by a later ring, however much later."""
    database = str(tmp_path / "jobq.db")
    directory = Path(wake_directory(database))
    directory.mkdir()
    first = _listener(directory, "first")
    frozen = os.stat(directory)  # the directory's times, as one tick leaves them
    real_stat = os.stat

    def coarse_stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if os.fspath(path) == str(directory):  # type: ignore[call-overload]
            return frozen
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    now = frozen.st_mtime_ns
    monkeypatch.setattr(os, "stat", coarse_stat)
    monkeypatch.setattr(time, "time_ns", lambda: now)
    ringer = Ringer(database)
    late = None
    try:
        ringer.ring()  # lists [first], in the directory's own tick
        assert first.recv(8) == b"!"
        late = _listener(directory, "late")  # the same tick: the times do not move
        now += 5 * 10**9  # and the next enqueue comes long after
        ringer.ring()
        assert late.recv(8) == b"!"
    finally:
        ringer.close()
        first.close()
        if late is not None:
            late.close()
