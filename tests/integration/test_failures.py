"""How attempts fail: retries with backoff, dead after the last, timeouts, errors that must not
be retried, unknown types, results that cannot be stored."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from jobq import (
    Backoff,
    DeadReason,
    JobContext,
    JobQueue,
    NonRetryableError,
    PoolConfig,
    WorkerPool,
)
from jobq.domain.states import JobState

FAST = Backoff(base_seconds=0.05, max_seconds=0.2, jitter=False)


@pytest.fixture
async def pool(jq: JobQueue) -> AsyncIterator[WorkerPool]:
    pool = jq.worker_pool(PoolConfig(worker_count=4, poll_interval=0.05))
    await pool.start()
    yield pool
    await pool.stop(grace=5)


async def test_a_failing_job_is_retried_with_backoff_then_succeeds(
    jq: JobQueue, pool: WorkerPool
) -> None:
    seen: list[tuple[int, float]] = []

    @jq.job(
        "flaky", max_attempts=4, backoff=Backoff(base_seconds=0.2, max_seconds=10, jitter=False)
    )
    async def flaky(payload: dict[str, Any], ctx: JobContext) -> str:
        seen.append((ctx.attempt, time.monotonic()))
        if ctx.attempt < 3:
            raise ConnectionError(f"try {ctx.attempt}")
        return "third time lucky"

    job = await jq.wait((await jq.enqueue("flaky")).id, timeout=10)
    assert job.status is JobState.SUCCEEDED and job.result == "third time lucky"
    assert [attempt for attempt, _ in seen] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(seen)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, f"backoff 0.2 s then 0.4 s, got {gaps}"
    outcomes = [
        (a.attempt, a.outcome.value, a.error and a.error.message)  # type: ignore[union-attr]
        for a in await jq.attempts(job.id)
    ]
    assert outcomes == [(1, "failed", "try 1"), (2, "failed", "try 2"), (3, "succeeded", None)]


async def test_a_job_is_dead_after_its_last_attempt(jq: JobQueue, pool: WorkerPool) -> None:
    @jq.job("always", max_attempts=3, backoff=FAST)
    async def always(payload: dict[str, Any]) -> None:
        raise ValueError("no luck")

    job = await jq.wait((await jq.enqueue("always")).id, timeout=10)
    assert job.status is JobState.DEAD and job.dead_reason is DeadReason.ATTEMPTS_EXHAUSTED
    assert job.attempt == 3
    assert job.last_error is not None and job.last_error.type == "ValueError"
    attempts = await jq.attempts(job.id)
    assert len(attempts) == 3
    assert all(
        a.error is not None and "ValueError: no luck" in (a.error.traceback or "") for a in attempts
    )


async def test_max_attempts_per_job_overrides_the_type(jq: JobQueue, pool: WorkerPool) -> None:
    calls = 0

    @jq.job("count", max_attempts=5, backoff=FAST)
    async def count(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("x")

    job = await jq.wait((await jq.enqueue("count", max_attempts=2)).id, timeout=10)
    assert job.status is JobState.DEAD and calls == 2


async def test_a_timeout_fails_the_attempt_and_follows_the_policy(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("slow", max_attempts=2, timeout=0.2, backoff=FAST)
    async def slow(payload: dict[str, Any]) -> None:
        await asyncio.sleep(float(payload["seconds"]))

    started = time.monotonic()
    job = await jq.wait((await jq.enqueue("slow", {"seconds": 30})).id, timeout=10)
    assert time.monotonic() - started < 5
    assert job.status is JobState.DEAD and job.attempt == 2
    assert job.last_error is not None and job.last_error.type == "JobTimeout"
    assert "0.2" in job.last_error.message

    quick = await jq.wait((await jq.enqueue("slow", {"seconds": 0.3}, timeout=2)).id, timeout=10)
    assert quick.status is JobState.SUCCEEDED, "the per-job timeout overrides the type's"


async def test_a_handlers_own_timeout_error_is_an_ordinary_failure(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("own_timeout", max_attempts=1, timeout=10)
    async def own_timeout(payload: dict[str, Any]) -> None:
        raise TimeoutError("the upstream timed out")

    job = await jq.wait((await jq.enqueue("own_timeout")).id, timeout=10)
    assert job.last_error is not None and job.last_error.type == "TimeoutError"


async def test_a_sync_handler_that_overruns_is_failed_and_frees_its_worker(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("stuck", max_attempts=1, timeout=0.2)
    def stuck(payload: dict[str, Any]) -> None:
        time.sleep(1.0)

    job = await jq.wait((await jq.enqueue("stuck")).id, timeout=10)
    assert job.status is JobState.DEAD and job.last_error.type == "JobTimeout"  # type: ignore[union-attr]
    after = await jq.wait((await jq.enqueue("echo", {"next": 1})).id, timeout=10)
    assert after.status is JobState.SUCCEEDED


async def test_a_sync_handler_past_its_timeout_is_told_it_was_cancelled(
    jq: JobQueue, pool: WorkerPool
) -> None:
    """The worker stops waiting for the thread at the timeout; ``ctx.wait_cancelled`` wakes
    the handler then, so it can stop too, rather than run on for nothing."""
    told = threading.Event()

    @jq.job("patient", max_attempts=1, timeout=0.2)
    def patient(payload: dict[str, Any], ctx: JobContext) -> None:
        assert not ctx.cancelled
        if ctx.wait_cancelled(30) and ctx.cancelled:
            told.set()

    job = await jq.wait((await jq.enqueue("patient")).id, timeout=10)
    assert job.status is JobState.DEAD and job.last_error.type == "JobTimeout"  # type: ignore[union-attr]
    assert await asyncio.to_thread(told.wait, 10), "the handler's thread was told"


async def test_non_retryable_error_is_dead_at_once(jq: JobQueue, pool: WorkerPool) -> None:
    calls = 0

    @jq.job("refuse", max_attempts=5)
    async def refuse(payload: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        raise NonRetryableError("the account is closed")

    job = await jq.wait((await jq.enqueue("refuse")).id, timeout=10)
    assert calls == 1 and job.status is JobState.DEAD
    assert job.dead_reason is DeadReason.NON_RETRYABLE
    assert job.last_error is not None and job.last_error.message == "the account is closed"


async def test_exception_classes_listed_per_type_are_not_retried(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("parse", max_attempts=5, non_retryable=(KeyError,))
    async def parse(payload: dict[str, Any]) -> Any:
        return payload["missing"]

    job = await jq.wait((await jq.enqueue("parse")).id, timeout=10)
    assert job.status is JobState.DEAD and job.attempt == 1
    assert job.dead_reason is DeadReason.NON_RETRYABLE


async def test_a_type_no_handler_knows_waits_pending_until_one_does(
    jq: JobQueue, pool: WorkerPool
) -> None:
    """A pool claims only the types it has handlers for: a job of another type is never killed
    for it, and runs once a handler for it is there (a handler registered after the start
    counts, as a process with that handler would)."""
    jq.accept_unknown_types = True
    stranger = await jq.enqueue("nobody.handles.this", priority=9)
    known = await jq.enqueue("echo", {"n": 1})  # claimed after the stranger would have been
    assert (await jq.wait(known.id, timeout=10)).status is JobState.SUCCEEDED
    waiting = await jq.get(stranger.id)
    assert waiting.status is JobState.PENDING and waiting.attempt == 0
    assert await jq.attempts(stranger.id) == []

    @jq.job("nobody.handles.this")
    async def handles(payload: dict[str, Any]) -> str:
        return "at last"

    pool.notify()
    done = await jq.wait(stranger.id, timeout=10)
    assert done.status is JobState.SUCCEEDED and done.result == "at last" and done.attempt == 1


async def test_a_result_that_is_not_json_is_dead_not_retried(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("weird", max_attempts=3)
    async def weird(payload: dict[str, Any]) -> object:
        return object()

    job = await jq.wait((await jq.enqueue("weird")).id, timeout=10)
    assert job.status is JobState.DEAD and job.attempt == 1
    assert job.last_error is not None and job.last_error.type == "InvalidResult"


async def test_builtin_sleep_and_echo(jq: JobQueue, pool: WorkerPool) -> None:
    slept = await jq.wait((await jq.enqueue("sleep", {"seconds": 0.05})).id, timeout=10)
    assert slept.result == {"slept": 0.05}
    echoed = await jq.wait((await jq.enqueue("echo", {"a": [1, "b"]})).id, timeout=10)
    assert echoed.result == {"a": [1, "b"]}
    bad = await jq.wait((await jq.enqueue("sleep", {"seconds": "soon"})).id, timeout=10)
    assert bad.status is JobState.DEAD and bad.dead_reason is DeadReason.NON_RETRYABLE
    assert "invalid payload for sleep" in bad.last_error.message  # type: ignore[union-attr]
