"""The worker pool on each store (a SQLite file, a PostgreSQL schema): fan-out over one
bounded buffer, wake-ups, heartbeats."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from jobq import JobContext, JobQueue, PoolConfig
from jobq.domain.states import JobState
from jobq.store import JobFilter
from tests.helpers import LoopTicks, Metronome, wait_for
from tests.jobs import statuses
from tests.storewrap import Watched, meddling


async def _all_done(jq: JobQueue, count: int) -> bool:
    return (await statuses(jq)).get(JobState.SUCCEEDED, 0) == count


async def test_ten_workers_share_one_queue(jq: JobQueue) -> None:
    """100 jobs of 100 ms on 10 workers: well under 0.35 of the serial time, on many workers."""
    ran_on: list[str] = []

    @jq.job("nap")
    async def nap(payload: dict[str, Any], ctx: JobContext) -> None:
        ran_on.append(ctx.worker_id)
        await asyncio.sleep(0.1)

    await jq.enqueue_many([jq.new_job("nap") for _ in range(100)])
    pool = jq.worker_pool(PoolConfig(worker_count=10, poll_interval=0.05))
    started = time.monotonic()
    await pool.start()
    try:
        await wait_for(lambda: _all_done(jq, 100), timeout=30, what="100 jobs")
        elapsed = time.monotonic() - started
    finally:
        await pool.stop()
    serial = 100 * 0.1
    assert elapsed / serial < 0.35, f"{elapsed:.2f} s is {elapsed / serial:.2f} of serial"
    assert len(ran_on) == 100
    assert len(set(ran_on)) == 10, "every worker should have taken jobs from the shared buffer"
    assert all(w.startswith(pool.pool_id + "/w") for w in ran_on)


async def test_an_enqueue_in_the_same_process_wakes_the_dispatcher(jq: JobQueue) -> None:
    """With a 30 s poll interval, only a wake-up can start the job within a second: the
    JobQueue's own (its enqueues notify its pools), or the store's listener hearing the
    commit."""
    started = asyncio.Event()

    @jq.job("ping")
    async def ping(payload: dict[str, Any]) -> None:
        started.set()

    with meddling(jq, Watched(jq.store, ["claim"])) as watched:
        pool = jq.worker_pool(PoolConfig(worker_count=1, poll_interval=30))
    await pool.start()
    try:
        # Its first claim found nothing, and none is under way: the dispatcher sleeps for 30 s.
        await wait_for(lambda: watched.idle("claim"), what="the first claim to return")
        enqueued = time.monotonic()
        await jq.enqueue("ping")
        await asyncio.wait_for(started.wait(), timeout=5)
        assert time.monotonic() - enqueued < 1.0
    finally:
        await pool.stop()


async def test_the_buffer_never_holds_more_than_its_capacity(jq: JobQueue) -> None:
    release = asyncio.Event()

    @jq.job("hold")
    async def hold(payload: dict[str, Any]) -> None:
        await release.wait()

    await jq.enqueue_many([jq.new_job("hold") for _ in range(40)])
    pool = jq.worker_pool(PoolConfig(worker_count=3, capacity=5, prefetch=10, poll_interval=0.02))
    await pool.start()
    try:
        await wait_for(
            lambda: pool.busy == 3 and pool.buffered == 5,
            timeout=5,
            what="3 busy workers and a full buffer",
        )
        async with Metronome(jq, poll_interval=0.02) as metronome:
            await metronome.wait(10)  # ten polls it could have claimed more in
        assert await statuses(jq) == {JobState.RUNNING: 8, JobState.PENDING: 32}
        assert pool.held == 8
        release.set()
        await wait_for(lambda: _all_done(jq, 40), timeout=10, what="all 40 jobs")
    finally:
        release.set()
        await pool.stop()


async def test_plain_def_handlers_run_in_threads_without_blocking_the_loop(jq: JobQueue) -> None:
    threads: set[str] = set()

    @jq.job("block")
    def block(payload: dict[str, Any]) -> str:
        threads.add(threading.current_thread().name)
        time.sleep(0.3)
        return "done"

    await jq.enqueue_many([jq.new_job("block") for _ in range(4)])
    pool = jq.worker_pool(PoolConfig(worker_count=4, poll_interval=0.05))
    started = time.monotonic()
    async with LoopTicks() as ticks:
        await pool.start()
        try:
            await wait_for(lambda: _all_done(jq, 4), timeout=10, what="4 blocking jobs")
            elapsed = time.monotonic() - started
        finally:
            await pool.stop()
    assert elapsed < 1.0, "four 0.3 s blocking jobs on 4 workers should overlap"
    assert len(threads) == 4 and all(t.startswith("jobq-handler") for t in threads)
    assert ticks.count >= elapsed / LoopTicks.interval * 0.5, (
        "the event loop was blocked by a plain def handler"
    )
    job = (await jq.store.reads.list_jobs(JobFilter(), limit=1)).jobs[0]
    assert job.result == "done"


async def test_heartbeats_keep_a_long_job_past_its_lease(jq: JobQueue) -> None:
    """A 1.5 s job under a 0.4 s lease: heartbeats every ~0.13 s keep it; no second attempt."""

    @jq.job("long")
    async def long(payload: dict[str, Any]) -> str:
        await asyncio.sleep(1.5)
        return "finished"

    job = await jq.enqueue("long")
    pool = jq.worker_pool(PoolConfig(worker_count=1, lease_seconds=0.4, poll_interval=0.05))
    await pool.start()
    try:
        done = await jq.wait(job.id, timeout=10)
    finally:
        await pool.stop()
    assert done.status is JobState.SUCCEEDED and done.attempt == 1
    assert [a.outcome.value for a in await jq.attempts(job.id)] == ["succeeded"]  # type: ignore[union-attr]


async def test_every_log_line_about_a_job_names_its_worker(jq: JobQueue) -> None:
    job = await jq.enqueue("echo", {"secret": "s3cr3t-value"})
    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.05))
    with capture_logs() as logs:
        await pool.start()
        try:
            await jq.wait(job.id, timeout=10)
        finally:
            await pool.stop()
    about_job = [e for e in logs if e.get("job_id") == job.id]
    assert {e["event"] for e in about_job} >= {"job_started", "job_succeeded"}
    for entry in about_job:
        assert entry.get("worker_id", "").startswith(pool.pool_id), entry
    assert "s3cr3t-value" not in repr(logs), "payloads must never be logged"


@pytest.mark.parametrize("queues", [("a",), ("a", "c")])
async def test_a_pool_works_only_its_queues(jq: JobQueue, queues: tuple[str, ...]) -> None:
    jobs = {q: await jq.enqueue("echo", {}, queue=q) for q in ("a", "b", "c")}
    with meddling(jq, Watched(jq.store, ["claim"])) as watched:
        pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.02, queues=queues))
    await pool.start()
    try:
        for q in queues:
            await jq.wait(jobs[q].id, timeout=10)
        claims = watched.ended["claim"]
        # five more polls, each a chance to take a job of a queue it does not work
        await wait_for(lambda: watched.ended["claim"] >= claims + 5, what="five more polls")
    finally:
        await pool.stop()
    for q, job in jobs.items():
        expected = JobState.SUCCEEDED if q in queues else JobState.PENDING
        assert (await jq.get(job.id)).status is expected


async def test_run_until_idle_drains_and_returns(jq: JobQueue) -> None:
    await jq.enqueue_many([jq.new_job("echo", {"i": i}) for i in range(30)])
    await asyncio.wait_for(
        jq.run(PoolConfig(worker_count=3, poll_interval=0.05), until_idle=True), timeout=20
    )
    assert await _all_done(jq, 30)


async def test_results_and_progress_messages_lose_secret_values(jq: JobQueue) -> None:
    @jq.job("secretive", secret=["password"])
    async def secretive(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        ctx.progress(0.5, f"logged in with {payload['password']}")
        return {"said": f"password was {payload['password']}"}

    job = await jq.enqueue("secretive", {"password": "Canary-pw-123"})
    await asyncio.wait_for(
        jq.run(PoolConfig(worker_count=1, poll_interval=0.01), until_idle=True), timeout=20
    )
    done = await jq.get(job.id)
    assert done.result == {"said": "password was [redacted]"}
    assert done.progress_message == "logged in with [redacted]"
    assert done.payload["password"] == "Canary-pw-123"  # stored as sent
