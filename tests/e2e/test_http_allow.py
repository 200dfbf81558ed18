"""``jobq worker`` applies ``JOBQ_HTTP_ALLOW`` to the built-in ``http.request``: a real process,
a real loopback server, the job enqueued on the same SQLite file."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from jobq import DeadReason, JobQueue
from jobq.domain.job import Job
from jobq.domain.states import JobState
from tests.cli import inherited_setting
from tests.helpers import JobqProcess, http_server


class Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        Recorder.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    Recorder.hits = []
    with http_server(Recorder) as url:
        yield url


@pytest.fixture(autouse=True)
def no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker inherits this environment (``JobqProcess``): only the test's settings count."""
    for name in list(os.environ):
        if inherited_setting(name):
            monkeypatch.delenv(name)


async def run_on_worker(
    processes: list[JobqProcess], tmp_path: Path, db_url: str, env: dict[str, str], url: str
) -> Job:
    """Start ``jobq worker`` with ``env``, run one ``http.request`` job to ``url`` on it, stop
    it with SIGINT; return the job as it ended."""
    worker = JobqProcess(
        ["worker", "--workers", "1", "--poll-interval", "0.1"],
        env={"JOBQ_DATABASE_URL": db_url, **env},
        log_path=tmp_path / f"worker-{len(processes)}.log",
    )
    processes.append(worker)
    await worker.wait_event("pool_started")
    async with JobQueue(db_url) as jq:
        job = await jq.enqueue("http.request", {"url": url})
        done = await jq.wait(job.id, timeout=30)
    worker.signal(signal.SIGINT)
    assert await worker.wait_exit(30) == 0, worker.log_text()[-3000:]
    return done


@pytest.mark.slow
async def test_a_worker_beyond_loopback_calls_only_the_hosts_allowed(
    processes: list[JobqProcess], tmp_path: Path, db_url: str, target: str
) -> None:
    # JOBQ_HOST=0.0.0.0 and no JOBQ_HTTP_ALLOW: no host. (A worker binds nothing without
    # --metrics-port: the address only decides the default.)
    refused = await run_on_worker(
        processes, tmp_path, db_url, {"JOBQ_HOST": "0.0.0.0"}, f"{target}/first"
    )
    assert refused.status is JobState.DEAD, refused
    assert refused.attempt == 1 and refused.dead_reason is DeadReason.NON_RETRYABLE
    assert refused.last_error is not None
    assert refused.last_error.message.startswith(
        "http.request may not call host '127.0.0.1': JOBQ_HTTP_ALLOW allows no host"
    )
    assert "set it to the hosts this job may call" in refused.last_error.message
    assert Recorder.hits == []

    allowed = await run_on_worker(
        processes,
        tmp_path,
        db_url,
        {"JOBQ_HOST": "0.0.0.0", "JOBQ_HTTP_ALLOW": "127.0.0.1"},
        f"{target}/second",
    )
    assert allowed.status is JobState.SUCCEEDED, allowed.last_error
    assert allowed.result == {"status": 200, "headers": allowed.result["headers"], "body": "ok"}
    assert Recorder.hits == ["/second"]
