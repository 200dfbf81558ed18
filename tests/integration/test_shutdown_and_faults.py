"""Stopping a pool in order, and a pool's behaviour when the store fails under it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from jobq import JobQueue, PoolConfig, StoreUnavailable, WorkerPool
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.registry import Registry
from jobq.store import Store
from tests.helpers import wait_for


async def _statuses(jq: JobQueue) -> dict[JobState, int]:
    return {c.status: c.count for c in await jq.store.counts()}


async def test_stop_hands_back_unstarted_jobs_and_lets_running_ones_finish(jq: JobQueue) -> None:
    gate = asyncio.Event()
    started: list[str] = []

    @jq.job("gated")
    async def gated(payload: dict[str, Any]) -> str:
        started.append(payload["n"])
        await gate.wait()
        return "finished"

    jobs = [await jq.enqueue("gated", {"n": n}) for n in range(7)]
    pool = jq.worker_pool(PoolConfig(worker_count=2, capacity=5, poll_interval=0.02))
    await pool.start()
    await wait_for(lambda: pool.busy == 2 and pool.buffered == 5, what="2 running, 5 buffered")

    stopping = asyncio.create_task(pool.stop(grace=5))
    await asyncio.sleep(0.2)  # unstarted jobs are handed back while the running ones go on
    assert not stopping.done()
    gate.set()
    report = await asyncio.wait_for(stopping, timeout=5)

    assert report.released_unstarted == 5 and report.interrupted == 0
    assert len(started) == 2
    assert await _statuses(jq) == {JobState.SUCCEEDED: 2, JobState.PENDING: 5}
    for job in jobs:
        current = await jq.get(job.id)
        if current.status is JobState.PENDING:
            assert current.attempt == 0 and current.worker_id is None
            assert await jq.attempts(job.id) == [], "an unstarted job has no attempt to record"


async def test_jobs_still_running_after_the_grace_are_interrupted_and_handed_back(
    jq: JobQueue,
) -> None:
    @jq.job("forever")
    async def forever(payload: dict[str, Any]) -> None:
        await asyncio.sleep(3600)

    @jq.job("forever_sync", timeout=None)
    def forever_sync(payload: dict[str, Any]) -> None:
        time.sleep(2)  # a thread cannot be interrupted; its job is handed back all the same

    a = await jq.enqueue("forever")
    b = await jq.enqueue("forever_sync")
    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.02))
    await pool.start()
    await wait_for(lambda: pool.busy == 2, what="both jobs running")
    began = time.monotonic()
    report = await pool.stop(grace=0.3)
    assert time.monotonic() - began < 1.5
    assert report.interrupted == 2
    for job in (a, b):
        back = await jq.get(job.id)
        assert back.status is JobState.PENDING and back.attempt == 0, "attempt given back"
        [attempt] = await jq.attempts(job.id)
        assert attempt.outcome is Outcome.INTERRUPTED and attempt.worker_id is not None


async def test_stop_leaves_no_task_behind(jq: JobQueue) -> None:
    before = {t for t in asyncio.all_tasks() if t.get_name().startswith("jobq-")}
    pool = jq.worker_pool(PoolConfig(worker_count=5, poll_interval=0.02))
    await pool.start()
    await jq.enqueue("echo")
    await asyncio.sleep(0.1)
    await pool.stop()
    left = {t for t in asyncio.all_tasks() if t.get_name().startswith("jobq-")} - before
    assert left == set(), f"tasks still running after stop: {left}"


class FlakyStore:
    """Wraps a real store; chosen methods raise ``StoreUnavailable`` for the first n calls."""

    def __init__(self, inner: Store, failures: dict[str, int]) -> None:
        self._inner = inner
        self.failures = dict(failures)
        self.calls: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if name not in self.failures:
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] = self.calls.get(name, 0) + 1
            if self.failures[name] > 0:
                self.failures[name] -= 1
                raise StoreUnavailable("injected: database is locked")
            return await target(*args, **kwargs)

        return call


async def test_the_pool_rides_out_a_store_outage(jq: JobQueue) -> None:
    flaky = FlakyStore(jq.store, {"claim": 3, "complete": 2})
    pool = WorkerPool(flaky, jq.registry, PoolConfig(worker_count=2, poll_interval=0.02))  # type: ignore[arg-type]
    job = await jq.enqueue("echo", {"x": 1})
    await pool.start()
    try:
        done = await jq.wait(job.id, timeout=15)
    finally:
        await pool.stop()
    assert done.status is JobState.SUCCEEDED and done.attempt == 1
    assert flaky.calls["claim"] > 3 and flaky.calls["complete"] == 3


class BrokenReaper:
    def __init__(self, inner: Store) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def requeue_expired(self) -> list[Any]:
        raise RuntimeError("a bug in the reaper")


async def test_a_side_task_that_dies_of_a_bug_fails_the_pool(jq: JobQueue) -> None:
    pool = WorkerPool(
        BrokenReaper(jq.store),
        Registry(),  # type: ignore[arg-type]
        PoolConfig(worker_count=1, lease_seconds=0.2),
    )
    await pool.start()
    try:
        await asyncio.wait_for(pool.failed.wait(), timeout=5)
        assert isinstance(pool.failure, RuntimeError)
    finally:
        await pool.stop()


async def test_run_raises_when_its_pool_fails(jq: JobQueue) -> None:
    real = jq._store
    jq._store = BrokenReaper(real)  # type: ignore[assignment]
    try:
        with pytest.raises(Exception, match="worker pool failed"):
            await asyncio.wait_for(jq.run(PoolConfig(worker_count=1, lease_seconds=0.2)), 10)
    finally:
        jq._store = real
