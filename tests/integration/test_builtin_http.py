"""The built-in ``http.request`` type against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jobq import Backoff, DeadReason, JobQueue, PoolConfig
from jobq.domain.states import JobState


class Target(BaseHTTPRequestHandler):
    hits: list[tuple[str, str, bytes]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Target.hits.append((self.command, self.path, body))
        status = 503 if self.path.startswith("/down") else 200
        payload = json.dumps({"path": self.path, "got": body.decode()}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def target() -> Iterator[str]:
    Target.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_http_request_succeeds_on_2xx_and_retries_anything_else(
    jq: JobQueue, target: str
) -> None:
    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.05))
    await pool.start()
    try:
        ok = await jq.enqueue("http.request", {"url": f"{target}/ok?x=1"})
        posted = await jq.enqueue(
            "http.request", {"url": f"{target}/hook", "method": "POST", "json": {"a": 1}}
        )
        down = await jq.enqueue(
            "http.request",
            {"url": f"{target}/down"},
            max_attempts=3,
            backoff=Backoff(base_seconds=0.05, jitter=False),
        )
        bad = await jq.enqueue("http.request", {"url": "not a url"})
        ok_job = await jq.wait(ok.id, timeout=15)
        posted_job = await jq.wait(posted.id, timeout=15)
        down_job = await jq.wait(down.id, timeout=15)
        bad_job = await jq.wait(bad.id, timeout=15)
    finally:
        await pool.stop()

    assert ok_job.status is JobState.SUCCEEDED
    assert ok_job.result["status"] == 200
    assert json.loads(ok_job.result["body"])["path"] == "/ok?x=1"
    assert posted_job.status is JobState.SUCCEEDED
    assert ("POST", "/hook", b'{"a":1}') in Target.hits

    assert down_job.status is JobState.DEAD and down_job.attempt == 3
    assert down_job.dead_reason is DeadReason.ATTEMPTS_EXHAUSTED
    assert "503" in down_job.last_error.message  # type: ignore[union-attr]
    assert sum(path == "/down" for _, path, _ in Target.hits) == 3

    assert bad_job.status is JobState.DEAD and bad_job.attempt == 1
    assert bad_job.dead_reason is DeadReason.NON_RETRYABLE
