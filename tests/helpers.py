"""Test helpers: waiting on conditions, a real HTTP server on loopback, real jobq processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
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
from jobq.worker.pool import WorkerPool

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
) -> AsyncIterator[str]:
    """Serve the API for ``jq`` with uvicorn, as ``jobq serve`` runs it, on a free loopback
    port; yield its base URL."""
    limits = limits or Limits()
    app = create_app(jq, pool=pool, limits=limits, access=access)
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
