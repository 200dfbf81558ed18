"""``jobq.Client`` (blocking, run in a thread) and ``jobq.AsyncClient`` against a real server on
loopback with a real worker pool and a real SQLite file. Every test runs with both clients."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

import jobq
import jobq.wire
from jobq import Backoff, JobContext, JobQueue, JobState, PoolConfig, WorkerPool
from tests.helpers import live_server
from tests.jobs import stored

FAST_RETRY = Backoff(base_seconds=0.05, max_seconds=0.05, jitter=False)


class ThreadedClient:
    """A ``jobq.Client`` whose calls run in a worker thread, so the server on this test's event
    loop can answer them: ``await client.enqueue(...)`` as with ``AsyncClient``."""

    def __init__(self, client: jobq.Client) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.client, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kwargs)

        return call


@pytest.fixture
async def server(jq: JobQueue) -> AsyncIterator[tuple[str, WorkerPool]]:
    @jq.job("flaky", backoff=FAST_RETRY)
    async def flaky(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        if ctx.attempt == 1:
            raise ValueError("the first attempt fails")
        return {"attempt": ctx.attempt, **payload}

    @jq.job("once", max_attempts=1)
    async def once(payload: dict[str, Any], ctx: JobContext) -> str:
        if ctx.attempt == 1:
            raise RuntimeError("dies on the first attempt")
        return "ran again"

    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.05, shutdown_timeout=5))
    await pool.start()
    try:
        async with live_server(jq, pool=pool) as url:
            yield url, pool
    finally:
        await pool.stop()
        jq.detach(pool)


@pytest.fixture(params=["async", "sync"])
async def client(
    request: pytest.FixtureRequest, server: tuple[str, WorkerPool]
) -> AsyncIterator[Any]:
    url, _pool = server
    if request.param == "async":
        async with jobq.AsyncClient(url, timeout=10) as async_client:
            yield async_client
    else:
        sync_client = jobq.Client(url, timeout=10)
        try:
            yield ThreadedClient(sync_client)
        finally:
            await asyncio.to_thread(sync_client.close)


async def expect_error(call: Any, status: int, code: str) -> jobq.ClientError:
    with pytest.raises(jobq.ClientError) as caught:
        await call
    error = caught.value
    assert isinstance(error, jobq.JobqError)
    assert error.status == status, error
    assert error.code == code, error
    assert str(error).startswith(f"{status} {code}: ")
    return error


# -- the happy paths ---------------------------------------------------------------------


async def test_enqueue_then_wait_for_the_result(client: Any, jq: JobQueue) -> None:
    job = await client.enqueue("echo", {"to": "a@example.com"}, queue="mail", priority=4)
    assert isinstance(job, jobq.wire.JobOut)
    assert uuid.UUID(job.id).version == 7
    assert job.status == "pending"
    assert job.queue == "mail"
    assert job.priority == 4
    assert job.attempt == 0
    assert job.max_attempts == 3

    done = await client.wait(job.id, timeout=15, interval=0.05)
    assert done.id == job.id
    assert done.status == "succeeded"
    assert done.result == {"to": "a@example.com"}
    assert [a.outcome for a in done.attempts] == ["succeeded"]
    assert done.finished_at is not None
    assert await stored(jq) == 1


async def test_enqueue_options(client: Any) -> None:
    job = await client.enqueue(
        "echo",
        None,
        delay=600,
        max_attempts=4,
        timeout=9.5,
        backoff={"base_seconds": 1, "max_seconds": 10, "jitter": False},
        idempotency_key="opts-1",
    )
    assert job.payload == {}
    assert job.max_attempts == 4
    assert job.timeout == 9.5
    assert job.backoff == {"base_seconds": 1.0, "max_seconds": 10.0, "jitter": False}
    assert job.idempotency_key == "opts-1"
    assert job.run_at > datetime.now(UTC)
    again = await client.enqueue("echo", None, delay=600, idempotency_key="opts-1")
    assert again.id == job.id


async def test_enqueue_with_a_run_at_datetime(client: Any) -> None:
    """``run_at`` is documented as an option; a ``datetime`` is what Python callers have."""
    moment = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    job = await client.enqueue("echo", {"n": 1}, run_at=moment)
    assert job.run_at == moment


async def test_enqueue_with_a_run_at_string(client: Any) -> None:
    job = await client.enqueue("echo", {"n": 1}, run_at="2031-05-06T09:08:09+02:00")
    assert job.run_at == datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)


async def test_enqueue_many(client: Any, jq: JobQueue) -> None:
    batch = await client.enqueue_many(
        [
            {"type": "echo", "payload": {"i": 0}},
            {"type": "echo", "payload": {"i": 1}, "queue": "other"},
            {"type": "echo", "payload": {"i": 2}, "idempotency_key": "many-2"},
        ]
    )
    assert batch.created == 3
    assert [job.payload for job in batch.jobs] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert batch.jobs[1].queue == "other"
    for job in batch.jobs:
        done = await client.wait(job.id, timeout=15, interval=0.05)
        assert done.status == "succeeded"
        assert done.result == job.payload
    repeat = await client.enqueue_many(
        [{"type": "echo", "payload": {"i": 2}, "idempotency_key": "many-2"}]
    )
    assert repeat.created == 0
    assert repeat.jobs[0].id == batch.jobs[2].id
    assert await stored(jq) == 3


async def test_get_with_attempts(client: Any, server: tuple[str, WorkerPool]) -> None:
    _url, pool = server
    job = await client.enqueue("flaky", {"k": "v"})
    done = await client.wait(job.id, timeout=15, interval=0.05)
    assert done.status == "succeeded"
    assert done.result == {"attempt": 2, "k": "v"}

    detail = await client.get(job.id)
    assert isinstance(detail, jobq.wire.JobDetailOut)
    assert detail.attempt == 2
    assert [a.attempt for a in detail.attempts] == [1, 2]
    assert [a.outcome for a in detail.attempts] == ["failed", "succeeded"]
    first, second = detail.attempts
    assert first.error is not None
    assert first.error.type == "ValueError"
    assert first.error.message == "the first attempt fails"
    assert first.traceback is not None
    assert "ValueError: the first attempt fails" in first.traceback
    assert second.error is None
    assert {first.worker_id, second.worker_id} <= set(pool.worker_ids)


async def test_list_with_filters_and_cursor(client: Any) -> None:
    made = []
    for i in range(7):
        made.append((await client.enqueue("echo", {"i": i}, queue="later", delay=600)).id)
    other = await client.enqueue("sleep", {"seconds": 1}, queue="later", delay=600)
    cancelled = await client.enqueue("echo", {"c": 1}, queue="later", delay=600)
    await client.cancel(cancelled.id)

    walked: list[str] = []
    cursor = None
    pages = 0
    while pages < 10:
        page = await client.list(
            status=JobState.PENDING, type="echo", queue="later", limit=3, cursor=cursor
        )
        assert isinstance(page, jobq.wire.JobPageOut)
        pages += 1
        walked.extend(job.id for job in page.jobs)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == list(reversed(made))
    assert pages == 3

    by_status = await client.list(status="cancelled")
    assert [job.id for job in by_status.jobs] == [cancelled.id]
    by_type = await client.list(type="sleep")
    assert [job.id for job in by_type.jobs] == [other.id]
    everything = await client.list(queue="later", limit=500)
    assert len(everything.jobs) == 9
    assert everything.next_cursor is None
    assert (await client.list(queue="nowhere")).jobs == []


async def test_cancel_and_retry(client: Any) -> None:
    job = await client.enqueue("echo", {"r": 1}, delay=600)
    cancelled = await client.cancel(job.id)
    assert cancelled.status == "cancelled"
    assert (await client.get(job.id)).status == "cancelled"

    retried = await client.retry(job.id)  # pending again, due now
    assert retried.status == "pending"
    assert retried.run_at <= datetime.now(UTC)
    done = await client.wait(job.id, timeout=15, interval=0.05)
    assert done.status == "succeeded"
    assert done.result == {"r": 1}


async def test_retry_a_dead_job(client: Any) -> None:
    job = await client.enqueue("once")
    dead = await client.wait(job.id, timeout=15, interval=0.05)
    assert dead.status == "dead"
    assert dead.dead_reason == "attempts_exhausted"
    assert dead.last_error is not None
    assert dead.last_error.type == "RuntimeError"

    retried = await client.retry(job.id)
    assert retried.status == "pending"
    done = await client.wait(job.id, timeout=15, interval=0.05)
    assert done.status == "succeeded"
    assert done.result == "ran again"
    assert [a.outcome for a in done.attempts] == ["failed", "succeeded"]


async def test_stats(client: Any) -> None:
    job = await client.enqueue("echo", {}, queue="stats-q")
    await client.wait(job.id, timeout=15, interval=0.05)
    await client.enqueue("echo", {}, queue="stats-q", delay=600)
    stats = await client.stats()
    assert isinstance(stats, jobq.wire.StatsOut)
    assert stats.counts["stats-q"]["succeeded"] == 1
    assert stats.counts["stats-q"]["pending"] == 1
    assert stats.totals["succeeded"] == 1
    assert stats.totals["pending"] == 1
    assert stats.workers is not None
    assert stats.workers["count"] == 2
    assert set(stats.workers) == {"count", "busy", "buffered"}


# -- errors --------------------------------------------------------------------------------


async def test_unknown_type_raises_422(client: Any, jq: JobQueue) -> None:
    error = await expect_error(client.enqueue("no.such.type", {}), 422, "unknown_job_type")
    assert "no.such.type" in str(error)
    assert await stored(jq) == 0


async def test_validation_error_carries_details(client: Any, jq: JobQueue) -> None:
    error = await expect_error(client.enqueue("echo", {}, priority=10**6), 422, "validation_error")
    assert isinstance(error.details, list)
    assert [d["field"] for d in error.details] == ["priority"]
    batch = await expect_error(
        client.enqueue_many([{"type": "echo"}, {"type": "bad name"}]), 422, "validation_error"
    )
    assert "jobs[1].type" in str(batch)
    assert await stored(jq) == 0


async def test_a_string_that_is_not_unicode_raises_invalid_job_before_it_is_sent(
    client: Any, jq: JobQueue
) -> None:
    """httpx cannot encode it; the client says where it is, as the server would."""
    with pytest.raises(jobq.InvalidJob, match=r"not valid Unicode at payload\.a:"):
        await client.enqueue("echo", {"a": "\ud800"})
    with pytest.raises(jobq.InvalidJob, match=r"not valid Unicode at jobs\[2\]\.payload\.s\[1\]:"):
        await client.enqueue_many(
            [{"type": "echo"}, {"type": "echo"}, {"type": "echo", "payload": {"s": ["", "\udfff"]}}]
        )
    assert await stored(jq) == 0


async def test_idempotency_conflict_raises_409(client: Any) -> None:
    await client.enqueue("echo", {"a": 1}, idempotency_key="same", delay=600)
    error = await expect_error(
        client.enqueue("echo", {"a": 2}, idempotency_key="same"), 409, "idempotency_conflict"
    )
    assert "payload" in str(error)


async def test_unknown_id_raises_404(client: Any) -> None:
    missing = str(uuid.uuid4())
    for call in (client.get(missing), client.cancel(missing), client.retry(missing)):
        error = await expect_error(call, 404, "not_found")
        assert missing in str(error)
        assert error.details is None


async def test_illegal_transition_raises_409(client: Any) -> None:
    job = await client.enqueue("echo", {}, delay=600)
    retry = await expect_error(client.retry(job.id), 409, "illegal_transition")
    assert retry.details == {"state": "pending"}
    await client.cancel(job.id)
    cancel = await expect_error(client.cancel(job.id), 409, "illegal_transition")
    assert cancel.details == {"state": "cancelled"}


async def test_wait_times_out_on_a_job_nobody_runs(client: Any) -> None:
    job = await client.enqueue("echo", {}, delay=600)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await client.wait(job.id, timeout=0.3, interval=0.05)
    elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 5
    assert (await client.get(job.id)).status == "pending"


async def test_sync_client_as_a_context_manager(server: tuple[str, WorkerPool]) -> None:
    url, _pool = server

    def use() -> tuple[str, bool]:
        with jobq.Client(url, timeout=10) as client:
            job = client.enqueue("echo", {"ctx": True})
            done = client.wait(job.id, timeout=15, interval=0.05)
            inner = client._http
        return done.status, inner.is_closed

    status, closed = await asyncio.to_thread(use)
    assert status == "succeeded"
    assert closed
