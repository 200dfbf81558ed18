"""The built-in ``http.request`` type against a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

import pytest

from jobq import Backoff, DeadReason, JobQueue, PoolConfig
from jobq.builtin_jobs import builtin_registry
from jobq.domain.job import Job
from jobq.domain.states import JobState
from tests.helpers import http_server


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
    with http_server(Target) as url:
        yield url


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


# -- JOBQ_HTTP_ALLOW: only the hosts allowed, redirects included ---------------------------------


class Site:
    """A loopback HTTP server that records what it receives. ``/go?to=URL`` redirects there
    (302); any other path answers 200."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits.append(self.path)
                if self.path.startswith("/go?to="):
                    self.send_response(302)
                    self.send_header("Location", unquote(self.path.removeprefix("/go?to=")))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                payload = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sites() -> Iterator[tuple[Site, Site]]:
    """Two loopback servers: the tests reach one as ``localhost`` and the other as
    ``127.0.0.1``, so that host patterns tell them apart."""
    first, second = Site(), Site()
    try:
        yield first, second
    finally:
        first.close()
        second.close()


@contextlib.asynccontextmanager
async def queue_allowing(db_url: str, patterns: list[str]) -> AsyncIterator[JobQueue]:
    """A JobQueue whose ``http.request`` may call ``patterns``, with a worker pool running."""
    queue = JobQueue(db_url, registry=builtin_registry(http_allow=patterns), builtins=False)
    async with queue:
        pool = queue.worker_pool(PoolConfig(worker_count=2, poll_interval=0.05))
        await pool.start()
        try:
            yield queue
        finally:
            await pool.stop()


async def run_job(queue: JobQueue, url: str) -> Job:
    job = await queue.enqueue("http.request", {"url": url})
    return await queue.wait(job.id, timeout=15)


def go(site: Site, via: str, to: str) -> str:
    return site.url(via, f"/go?to={quote(to, safe='')}")


async def test_an_allowed_host_is_called(db_url: str, sites: tuple[Site, Site]) -> None:
    site, _ = sites
    async with queue_allowing(db_url, ["127.0.0.1", "*.example.com"]) as queue:
        done = await run_job(queue, site.url("127.0.0.1", "/fine"))
    assert done.status is JobState.SUCCEEDED, done.last_error
    assert done.result["status"] == 200
    assert site.hits == ["/fine"]


async def test_a_host_not_allowed_is_never_called_and_the_job_is_dead_at_once(
    db_url: str, sites: tuple[Site, Site]
) -> None:
    site, _ = sites
    async with queue_allowing(db_url, ["localhost", "*.example.com"]) as queue:
        refused = await run_job(queue, site.url("127.0.0.1", "/secret"))
        empty = JobQueue(db_url, registry=builtin_registry(http_allow=[]), builtins=False)
    assert refused.status is JobState.DEAD
    assert refused.attempt == 1 and refused.max_attempts == 5  # not retried
    assert refused.dead_reason is DeadReason.NON_RETRYABLE
    assert refused.last_error is not None
    assert refused.last_error.type == "HostNotAllowed"
    assert refused.last_error.message == (
        "http.request may not call host '127.0.0.1': it is not in JOBQ_HTTP_ALLOW "
        "(allowed: localhost, *.example.com)"
    )
    assert site.hits == []

    async with empty:
        pool = empty.worker_pool(PoolConfig(worker_count=1, poll_interval=0.05))
        await pool.start()
        try:
            none = await run_job(empty, site.url("localhost", "/secret"))
        finally:
            await pool.stop()
    assert none.status is JobState.DEAD and none.attempt == 1
    assert "JOBQ_HTTP_ALLOW allows no host" in none.last_error.message  # type: ignore[union-attr]
    assert site.hits == []


async def test_a_redirect_to_a_host_not_allowed_is_not_followed(
    db_url: str, sites: tuple[Site, Site]
) -> None:
    allowed, other = sites
    target = other.url("127.0.0.1", "/secret")
    async with queue_allowing(db_url, ["localhost"]) as queue:
        refused = await run_job(queue, go(allowed, "localhost", target))
        # a redirect between allowed hosts is followed
        inside = await run_job(queue, go(allowed, "localhost", other.url("localhost", "/in")))
    assert refused.status is JobState.DEAD and refused.attempt == 1
    assert refused.dead_reason is DeadReason.NON_RETRYABLE
    assert refused.last_error is not None and refused.last_error.message == (
        "http.request may not call host '127.0.0.1' (a redirect from host 'localhost'): "
        "it is not in JOBQ_HTTP_ALLOW (allowed: localhost)"
    )
    assert inside.status is JobState.SUCCEEDED, inside.last_error
    assert other.hits == ["/in"]  # never /secret
    assert len(allowed.hits) == 2

    # the same redirect, its target allowed too: followed (so the refusal above was the list's)
    async with queue_allowing(db_url, ["localhost", "127.0.0.1"]) as queue:
        followed = await run_job(queue, go(allowed, "localhost", target))
    assert followed.status is JobState.SUCCEEDED, followed.last_error
    assert other.hits == ["/in", "/secret"]


async def test_a_chain_of_redirects_is_checked_at_every_hop(
    db_url: str, sites: tuple[Site, Site]
) -> None:
    first, second = sites
    last = second.url("127.0.0.1", "/secret")
    chain = go(first, "localhost", go(second, "localhost", go(first, "localhost", last)))
    async with queue_allowing(db_url, ["localhost"]) as queue:
        refused = await run_job(queue, chain)
    assert refused.status is JobState.DEAD and refused.attempt == 1
    assert "may not call host '127.0.0.1' (a redirect from host 'localhost')" in (
        refused.last_error.message  # type: ignore[union-attr]
    )
    assert len(first.hits) == 2 and len(second.hits) == 1
    assert not any(hit == "/secret" for hit in first.hits + second.hits)
