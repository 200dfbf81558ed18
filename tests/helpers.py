"""Test helpers: waiting on conditions, a real HTTP server on loopback, real jobq processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import uvicorn

from jobq.api.app import create_app
from jobq.api.auth import AccessPolicy
from jobq.api.http_server import server_config
from jobq.api.limits import Limits
from jobq.jobqueue import JobQueue
from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool
from tests.storewrap import Watched

REPO = Path(__file__).resolve().parent.parent


async def wait_for(
    condition: Callable[[], Awaitable[bool]] | Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(interval)


class LoopTicks:
    """Counts 10 ms ticks of the event loop: a loop blocked by I/O or a handler ticks less."""

    interval = 0.01

    def __init__(self) -> None:
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.count += 1

    async def __aenter__(self) -> LoopTicks:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


class Metronome:
    """A second worker pool on ``jq``'s store, on a queue no job is in: its dispatcher claims
    once every ``poll_interval`` seconds, and ``beats`` counts those claims. A test asserting
    that something does NOT happen waits for a number of beats, not for a time: that many
    polls of a live dispatcher, slowed by a busy event loop or a slow store just as the pool
    under test would be. (On SQLite any commit also wakes a pool, so a beat may come early;
    it never comes late.)"""

    QUEUE = "metronome"

    def __init__(self, jq: JobQueue, *, poll_interval: float) -> None:
        self._store = Watched(jq.store, ["claim"])
        config = PoolConfig(worker_count=1, poll_interval=poll_interval, queues=(self.QUEUE,))
        self._pool = WorkerPool(self._store, jq.registry, config)  # type: ignore[arg-type]

    @property
    def beats(self) -> int:
        return self._store.ended["claim"]

    async def wait(self, beats: int, *, timeout: float = 10.0) -> None:
        """Return after ``beats`` more polls."""
        target = self.beats + beats
        await wait_for(lambda: self.beats >= target, timeout=timeout, what=f"{beats} polls")

    async def __aenter__(self) -> Metronome:
        await self._pool.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._pool.stop()


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def live_server(
    jq: JobQueue,
    *,
    pool: WorkerPool | None = None,
    limits: Limits | None = None,
    access: AccessPolicy | None = None,
    auth_clock: Callable[[], float] | None = None,
) -> AsyncIterator[str]:
    """Serve the API for ``jq`` with uvicorn, as ``jobq serve`` runs it, on a free loopback
    port; yield its base URL. ``auth_clock``: the monotonic clock by which the authenticator
    ages what it remembers (a test moves it instead of sleeping)."""
    limits = limits or Limits()
    app = create_app(jq, pool=pool, limits=limits, access=access)
    if auth_clock is not None:
        app.state.authenticator.clock = auth_clock
    sock = socket.create_server(("127.0.0.1", 0))
    server = _QuietServer(server_config(app, max_header_bytes=limits.max_header_bytes))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await wait_for(lambda: server.started, timeout=10, what="uvicorn to start")
        host, port = sock.getsockname()[:2]
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """A plain HTTP server on a free loopback port, in a thread, answering with ``handler``;
    yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class JobqProcess:
    """A real ``python -m jobq ...`` subprocess, logging JSON lines to a file we can read."""

    def __init__(
        self, args: list[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None
    ) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, "JOBQ_LOG_FORMAT": "json", "PYTHONPATH": str(REPO), **env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobq", *args],
            env=full_env,
            cwd=cwd or REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def events(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and "event" in record:
                    found.append(record)
        return found

    def find(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            r
            for r in self.events()
            if r["event"] == event and all(r.get(k) == v for k, v in fields.items())
        ]

    async def wait_event(
        self, event: str, *, timeout: float = 20.0, **fields: Any
    ) -> dict[str, Any]:
        async def seen() -> bool:
            if self.proc.poll() is not None and not self.find(event, **fields):
                raise AssertionError(
                    f"jobq exited ({self.proc.returncode}) before logging {event}:\n"
                    + self.log_path.read_text(errors="replace")[-3000:]
                )
            return bool(self.find(event, **fields))

        await wait_for(seen, timeout=timeout, interval=0.05, what=f"event {event} {fields}")
        return self.find(event, **fields)[0]

    async def port(self) -> int:
        return int((await self.wait_event("http_listening"))["port"])

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"jobq pid {self.pid} did not exit within {timeout} s")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def stop(self) -> None:
        """Teardown: end the process we started (by its PID) if it still runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_jobq(
    processes: list[JobqProcess], tmp_path: Path, url: str, name: str, *args: str
) -> JobqProcess:
    """``python -m jobq *args`` on database ``url``, logging to ``<tmp_path>/<name>.log``;
    added to ``processes`` (the fixture that ends them)."""
    proc = JobqProcess(
        list(args), env={"JOBQ_DATABASE_URL": url}, log_path=tmp_path / f"{name}.log"
    )
    processes.append(proc)
    return proc


def documented_events() -> set[str]:
    """Every event name in the first column of the log table in docs/configuration.md."""
    text = (REPO / "docs" / "configuration.md").read_text()
    table = text[text.index("| Event | When |") :]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names
