"""A process whose log stream is gone keeps working and still stops when told.

Tried as a new user would: ``jobq worker --workers 1 --database-url sqlite:///p.db 2>fifo``
with a reader on the fifo that then exits (or ``jobq worker 2>&1 | head -2``): SIGTERM, a
second SIGTERM and SIGINT all left the process running, and only SIGKILL stopped it. The signal
handler wrote its ``shutdown_requested`` line before it set the stop; the write raised
``BrokenPipeError``, so the stop was never set. Here real ``jobq`` processes log to pipes whose
reading ends the test closes, as ``head`` does; then they run a job, and are stopped by real
signals."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.helpers import REPO, wait_for

pytestmark = pytest.mark.slow


class Piped:
    """``python -m jobq ARGS`` with its stdout and stderr on pipes of the test's own."""

    def __init__(self, args: list[str], cwd: Path, *, merged: bool = False) -> None:
        env = {**os.environ, "JOBQ_LOG_FORMAT": "json", "PYTHONPATH": str(REPO)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobq", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        )
        self.lines: list[dict[str, object]] = []

    def read_until(self, event: str, timeout: float = 30) -> dict[str, object]:
        """Read log lines (as ``head`` would) until one with ``event``; that line."""
        stream = self.proc.stderr or self.proc.stdout
        assert stream is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                raise AssertionError(f"jobq closed its log before {event}: {self.lines[-5:]}")
            record = json.loads(line)
            self.lines.append(record)
            if record.get("event") == event:
                return record
        raise AssertionError(f"no {event} within {timeout} s")

    def hang_up(self) -> None:
        """The readers go away, as ``head`` does after its lines."""
        pipes: list[IO[bytes] | None] = [self.proc.stdout, self.proc.stderr]
        for pipe in pipes:
            if pipe is not None:
                pipe.close()

    def signal(self, signum: signal.Signals) -> None:
        self.proc.send_signal(signum)

    async def exit_status(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"jobq pid {self.proc.pid} still runs {timeout} s later")
            await asyncio.sleep(0.05)
        return self.proc.returncode


@pytest.fixture
def piped() -> Iterator[list[Piped]]:
    started: list[Piped] = []
    yield started
    for process in started:  # ended by the PID we started, if a test left it running
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)


async def succeeded(url: str, job_id: str) -> bool:
    async with JobQueue(url) as jq:
        return (await jq.get(job_id)).status is JobState.SUCCEEDED


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.timeout(90)
async def test_a_worker_whose_log_reader_is_gone_runs_jobs_and_stops_on_a_signal(
    tmp_path: Path, piped: list[Piped], signum: signal.Signals
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    worker = Piped(["worker", "--workers", "1", "--database-url", url], tmp_path)
    piped.append(worker)
    worker.read_until("listen_started")
    worker.hang_up()
    async with JobQueue(url) as jq:
        job = await jq.enqueue("echo", {"after": "the reader left"})
    # the worker logs job_started and job_succeeded into the closed pipe, and goes on
    await wait_for(lambda: succeeded(url, job.id), timeout=30, what="the job to succeed")
    worker.signal(signum)
    assert await worker.exit_status(timeout=30) == 0


@pytest.mark.timeout(90)
async def test_a_second_sigterm_ends_a_worker_whose_log_reader_is_gone(
    tmp_path: Path, piped: list[Piped]
) -> None:
    """``jobq worker 2>&1 | head -2``: a job runs for a minute; the first SIGTERM starts the
    orderly stop (the job gets its grace period), the second ends the process at once."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    worker = Piped(["worker", "--workers", "1", "--database-url", url], tmp_path, merged=True)
    piped.append(worker)
    worker.read_until("listen_started")
    worker.hang_up()
    async with JobQueue(url) as jq:
        job = await jq.enqueue("sleep", {"seconds": 60})

        async def running() -> bool:
            return (await jq.get(job.id)).status is JobState.RUNNING

        await wait_for(running, timeout=30, what="the long job to start")
    worker.signal(signal.SIGTERM)
    with pytest.raises(AssertionError, match="still runs"):
        await worker.exit_status(timeout=1)  # the job has 30 s to finish: the stop waits
    worker.signal(signal.SIGTERM)
    assert await worker.exit_status(timeout=10) == 128 + signal.SIGTERM


@pytest.mark.timeout(90)
async def test_a_server_whose_log_reader_is_gone_answers_and_stops_on_sigterm(
    tmp_path: Path, piped: list[Piped]
) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    server = Piped(["serve", "--port", "0", "--workers", "1", "--database-url", url], tmp_path)
    piped.append(server)
    port = server.read_until("http_listening")["port"]
    server.hang_up()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        answer = await http.post("/jobs", json={"type": "echo", "payload": {"n": 1}})
        assert answer.status_code == 201, answer.text
        job_id = answer.json()["id"]
        await wait_for(lambda: succeeded(url, job_id), timeout=30, what="the job to succeed")
        assert (await http.get("/health")).status_code == 200
    server.signal(signal.SIGTERM)
    assert await server.exit_status(timeout=30) == 0
