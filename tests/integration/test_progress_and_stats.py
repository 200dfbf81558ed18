"""``ctx.progress`` from handlers, seen through the API; ``/stats`` with the processes, the
attempts per minute and the oldest waiting job, from a real server and a real pool."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from jobq import JobContext
from jobq.domain.job import Backoff
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.worker import PoolConfig
from tests.helpers import live_server, wait_for

CONFIG = PoolConfig(worker_count=2, poll_interval=0.05, shutdown_timeout=5)


async def test_progress_from_an_async_handler_is_visible_while_it_runs(jq: JobQueue) -> None:
    go_on = asyncio.Event()

    @jq.job("report")
    async def report(payload: dict[str, Any], ctx: JobContext) -> str:
        ctx.progress(0.3, "resizing")
        await go_on.wait()
        ctx.progress(1.0, "done")
        return "ok"

    pool = jq.worker_pool(CONFIG)
    await pool.start()
    try:
        async with live_server(jq, pool=pool) as url, httpx.AsyncClient(base_url=url) as http:
            job = await jq.enqueue("report")

            async def shows(progress: float, message: str) -> bool:
                body = (await http.get(f"/jobs/{job.id}")).json()
                return (body["progress"], body["progress_message"]) == (progress, message)

            await wait_for(lambda: shows(0.3, "resizing"), timeout=10, what="progress 0.3")
            assert (await jq.get(job.id)).status is JobState.RUNNING
            go_on.set()
            done = await jq.wait(job.id, timeout=10)
            # the last report landed before the outcome was written
            assert (done.status, done.progress, done.progress_message) == (
                JobState.SUCCEEDED,
                1.0,
                "done",
            )
    finally:
        await pool.stop()


async def test_progress_from_a_thread_handler_and_the_latest_value_wins(jq: JobQueue) -> None:
    release = threading.Event()

    @jq.job("crunch")
    def crunch(payload: dict[str, Any], ctx: JobContext) -> None:
        for step in range(1, 1001):  # a tight loop: only the latest value needs writing
            ctx.progress(step / 1000, f"step {step}")
        release.wait(10)

    pool = jq.worker_pool(CONFIG)
    await pool.start()
    try:
        job = await jq.enqueue("crunch")

        async def at_the_end() -> bool:
            current = await jq.get(job.id)
            return (current.progress, current.progress_message) == (1.0, "step 1000")

        await wait_for(at_the_end, timeout=10, what="the last progress")
        release.set()
        assert (await jq.wait(job.id, timeout=10)).status is JobState.SUCCEEDED
    finally:
        release.set()
        await pool.stop()


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "half"])
async def test_a_bad_progress_value_fails_the_attempt_and_says_why(jq: JobQueue, bad: Any) -> None:
    @jq.job("wrong", max_attempts=1)
    async def wrong(payload: dict[str, Any], ctx: JobContext) -> None:
        ctx.progress(bad)

    pool = jq.worker_pool(CONFIG)
    await pool.start()
    try:
        job = await jq.enqueue("wrong")
        done = await jq.wait(job.id, timeout=10)
    finally:
        await pool.stop()
    assert done.status is JobState.DEAD
    assert done.last_error is not None
    assert done.last_error.type == "ValueError" and "progress must be" in done.last_error.message


async def test_a_new_attempt_starts_without_the_last_ones_progress(jq: JobQueue) -> None:
    seen_at_start: list[float | None] = []

    @jq.job("flaky", max_attempts=2, backoff=Backoff(base_seconds=0.05, jitter=False))
    async def flaky(payload: dict[str, Any], ctx: JobContext) -> None:
        seen_at_start.append(ctx.job.progress)
        if ctx.attempt == 1:
            ctx.progress(0.9, "almost")
            raise RuntimeError("first try fails")

    pool = jq.worker_pool(CONFIG)
    await pool.start()
    try:
        job = await jq.enqueue("flaky")
        done = await jq.wait(job.id, timeout=10)
    finally:
        await pool.stop()
    assert done.status is JobState.SUCCEEDED and done.attempt == 2
    assert seen_at_start == [None, None]  # the claim cleared attempt 1's 0.9
    assert (done.progress, done.progress_message) == (None, None)


async def test_stats_show_processes_throughput_and_the_oldest_waiting_job(jq: JobQueue) -> None:
    pool = jq.worker_pool(CONFIG)
    await pool.start()
    try:
        async with live_server(jq, pool=pool) as url, httpx.AsyncClient(base_url=url) as http:
            for n in range(4):
                await jq.wait((await jq.enqueue("echo", {"n": n})).id, timeout=10)
            stats = (await http.get("/stats")).json()
            [me] = stats["processes"]
            assert me["id"] == pool.pool_id and me["workers"] == 2
            assert me["queues"] is None and me["busy"] == 0
            assert sum(row["succeeded"] for row in stats["throughput"]) == 4
            assert stats["oldest_waiting_seconds"] is None
    finally:
        await pool.stop()
    # the stopped pool is gone from the list; a job that waits shows its age, and it grows
    await jq.enqueue("echo", {})
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as http:
        stats = (await http.get("/stats")).json()
        assert stats["processes"] == []
        assert stats["oldest_waiting_seconds"] >= 0

        async def older() -> bool:
            waited = (await http.get("/stats")).json()["oldest_waiting_seconds"]
            return bool(waited >= stats["oldest_waiting_seconds"] + 0.2)

        await wait_for(older, timeout=5, what="the waiting job's age to grow")
