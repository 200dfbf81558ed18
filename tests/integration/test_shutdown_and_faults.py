"""Stopping a pool in order, and a pool's behaviour when the store fails under it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from jobq import JobQueue, PoolConfig, StoreUnavailable, WorkerPool
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.registry import Registry
from jobq.store import JobFilter, Store
from tests.helpers import Metronome, wait_for
from tests.jobs import statuses
from tests.storewrap import FlakyStore, Gated, Meddled, SlowStore, broken, meddling


def logged(logs: list[dict[str, Any]], event: str) -> int:
    """How many times ``event`` is in the captured ``logs``."""
    return sum(1 for entry in logs if entry["event"] == event)


async def test_stop_hands_back_unstarted_jobs_and_lets_running_ones_finish(jq: JobQueue) -> None:
    gate = asyncio.Event()
    started: list[str] = []

    @jq.job("gated")
    async def gated(payload: dict[str, Any]) -> str:
        started.append(payload["n"])
        await gate.wait()
        return "finished"

    jobs = [await jq.enqueue("gated", {"n": n}) for n in range(7)]
    pool = jq.worker_pool(PoolConfig(worker_count=2, capacity=5, prefetch=5, poll_interval=0.02))
    await pool.start()
    await wait_for(lambda: pool.busy == 2 and pool.buffered == 5, what="2 running, 5 buffered")

    stopping = asyncio.create_task(pool.stop(grace=5))

    async def handed_back() -> bool:
        return await statuses(jq) == {JobState.RUNNING: 2, JobState.PENDING: 5}

    # unstarted jobs are handed back while the running ones go on
    await wait_for(handed_back, what="the 5 buffered jobs handed back, 2 still running")
    assert not stopping.done(), "the stop waits for the running jobs"
    gate.set()
    report = await asyncio.wait_for(stopping, timeout=5)

    assert report.released_unstarted == 5 and report.interrupted == 0
    assert len(started) == 2
    assert await statuses(jq) == {JobState.SUCCEEDED: 2, JobState.PENDING: 5}
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
    job = await jq.enqueue("echo")
    await jq.wait(job.id, timeout=10, interval=0.02)  # every part of the pool has worked
    await pool.stop()
    left = {t for t in asyncio.all_tasks() if t.get_name().startswith("jobq-")} - before
    assert left == set(), f"tasks still running after stop: {left}"


async def test_the_pool_rides_out_a_store_outage(jq: JobQueue) -> None:
    flaky = FlakyStore(jq.store, {"claim": 3, "complete_many": 2})
    pool = WorkerPool(flaky, jq.registry, PoolConfig(worker_count=2, poll_interval=0.02))  # type: ignore[arg-type]
    job = await jq.enqueue("echo", {"x": 1})
    await pool.start()
    try:
        done = await jq.wait(job.id, timeout=15)
    finally:
        await pool.stop()
    assert done.status is JobState.SUCCEEDED and done.attempt == 1
    assert flaky.calls["claim"] > 3 and flaky.calls["complete_many"] == 3


async def test_a_side_task_that_dies_of_a_bug_fails_the_pool(jq: JobQueue) -> None:
    pool = WorkerPool(
        broken(jq.store, "requeue_expired"),
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
    with (
        meddling(jq, broken(jq.store, "requeue_expired")),
        pytest.raises(Exception, match="worker pool failed"),
    ):
        await asyncio.wait_for(jq.run(PoolConfig(worker_count=1, lease_seconds=0.2)), 10)


async def test_a_completion_under_way_when_the_grace_ends_is_still_written(jq: JobQueue) -> None:
    """The handler returns inside the grace; its write is slow and outlasts it. Cutting the
    write short would leave a finished job running, to be re-run when its lease expired."""

    @jq.job("quick")
    async def quick(payload: dict[str, Any]) -> str:
        await asyncio.sleep(0.2)
        return "done"

    slow = SlowStore(jq.store, {"complete_many": 0.6})
    pool = WorkerPool(slow, jq.registry, PoolConfig(worker_count=1, poll_interval=0.02))  # type: ignore[arg-type]
    job = await jq.enqueue("quick")
    await pool.start()
    await wait_for(lambda: pool.busy == 1, what="the job to start")
    report = await pool.stop(grace=0.3)
    done = await jq.get(job.id)
    assert done.status is JobState.SUCCEEDED and done.result == "done"
    assert report.interrupted == 0
    assert [a.outcome for a in await jq.attempts(job.id)] == [Outcome.SUCCEEDED]


async def test_jobs_claimed_as_the_stop_begins_are_handed_back_not_started(jq: JobQueue) -> None:
    started: list[int] = []

    @jq.job("mark")
    async def mark(payload: dict[str, Any]) -> None:
        started.append(payload["n"])

    for n in range(3):
        await jq.enqueue("mark", {"n": n})
    gated = Gated(jq.store, ["claim"])
    pool = WorkerPool(gated, jq.registry, PoolConfig(worker_count=3, poll_interval=0.02))  # type: ignore[arg-type]
    await pool.start()
    await asyncio.wait_for(gated.arrived["claim"].wait(), 10)  # the first claim is under way
    with capture_logs() as logs:
        stopping = asyncio.create_task(pool.stop(grace=2))
        await wait_for(lambda: logged(logs, "pool_stopping") == 1, what="the stop to begin")
    gated.open()  # the claim goes on, and takes the 3 jobs for a pool that is stopping
    report = await asyncio.wait_for(stopping, 10)
    assert started == [], "no job may start once the stop has begun"
    assert report.released_unstarted == 3
    assert await statuses(jq) == {JobState.PENDING: 3}
    for page_job in (await jq.store.reads.list_jobs(JobFilter(), limit=10)).jobs:
        assert page_job.attempt == 0 and page_job.started_at is None


class OutageStore(Meddled):
    """Heartbeats fail until the job is claimed a second time (its first lease expired)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner, {"claim": self._claim, "heartbeat": self._heartbeat})
        self.outage = True

    async def _claim(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        jobs = await method(*args, **kwargs)
        if any(job.attempt >= 2 for job in jobs):
            self.outage = False
        return jobs

    async def _heartbeat(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        if self.outage:
            raise StoreUnavailable("injected: heartbeat outage")
        return await method(*args, **kwargs)


async def test_a_stale_attempt_ending_does_not_orphan_the_pools_newer_claim(jq: JobQueue) -> None:
    """Heartbeats fail past the lease, so the reaper requeues the job and this same pool claims
    it again (attempt 2) while attempt 1 still runs. When attempt 1 ends, attempt 2 must keep
    its heartbeats; otherwise it expires too and a third attempt starts beside it."""
    runs: dict[int, list[float]] = {}
    loop = asyncio.get_running_loop()

    @jq.job("long", max_attempts=5)
    async def long(payload: dict[str, Any], ctx: Any) -> None:
        runs[ctx.attempt] = [loop.time()]
        # Attempt 1 ends well before attempt 2, leaving attempt 2 seconds in which only its
        # heartbeats keep it alive.
        await asyncio.sleep(2.0 if ctx.attempt == 1 else 4.0)
        runs[ctx.attempt].append(loop.time())

    store = OutageStore(jq.store)
    config = PoolConfig(worker_count=3, lease_seconds=0.6, poll_interval=0.05)
    pool = WorkerPool(store, jq.registry, config)  # type: ignore[arg-type]
    job = await jq.enqueue("long")
    await pool.start()
    try:
        done = await jq.wait(job.id, timeout=20)
    finally:
        await pool.stop(grace=5)
    assert runs[2][0] < runs[1][1], "the scenario needs attempt 2 to start while 1 runs"
    assert sorted(runs) == [1, 2], f"attempts started: {sorted(runs)}"
    assert done.status is JobState.SUCCEEDED and done.attempt == 2


async def test_run_until_idle_raises_when_its_pool_fails(jq: JobQueue) -> None:
    @jq.job("nap")
    async def nap(payload: dict[str, Any]) -> None:
        await asyncio.sleep(float(payload["s"]))

    await jq.enqueue("nap", {"s": 1})
    config = PoolConfig(worker_count=2, lease_seconds=0.3, poll_interval=0.02)
    with (
        meddling(jq, broken(jq.store, "heartbeat")),
        pytest.raises(Exception, match="worker pool failed"),
    ):
        await asyncio.wait_for(jq.run(config, until_idle=True), timeout=10)


async def test_a_failed_pool_claims_no_more(jq: JobQueue) -> None:
    pool = WorkerPool(
        broken(jq.store, "heartbeat"),
        jq.registry,  # type: ignore[arg-type]
        PoolConfig(worker_count=2, lease_seconds=0.3, poll_interval=0.02),
    )
    await jq.enqueue("sleep", {"seconds": 1})  # held jobs make the heartbeat call the store
    await pool.start()
    try:
        await asyncio.wait_for(pool.failed.wait(), timeout=5)
        job = await jq.enqueue("echo")
        async with Metronome(jq, poll_interval=0.02) as metronome:
            await metronome.wait(15)  # fifteen polls a live pool would have claimed it in
        assert (await jq.get(job.id)).status is JobState.PENDING
    finally:
        await pool.stop()


async def test_a_lost_lease_is_counted_once(jq: JobQueue) -> None:
    """Pool A's heartbeats fail, its lease runs out, pool B claims the job. A's heartbeat then
    finds the lease gone and A's late write is refused: one lost lease, counted once."""
    gate = asyncio.Event()

    @jq.job("hold", max_attempts=3)
    async def hold(payload: dict[str, Any]) -> str:
        await gate.wait()
        return "done"

    outage = FlakyStore(jq.store, {"heartbeat": 10**6, "claim": 0})  # heartbeats fail
    metrics = Metrics()
    config = PoolConfig(worker_count=1, lease_seconds=0.3, poll_interval=0.02)
    pool_a = WorkerPool(outage, jq.registry, config, metrics=metrics)  # type: ignore[arg-type]
    job = await jq.enqueue("hold")
    await pool_a.start()
    await wait_for(lambda: pool_a.busy == 1, what="A to start the job")
    outage.failures["claim"] = 10**6  # A claims no more: only B can take the job back
    pool_b = WorkerPool(jq.store, jq.registry, config)
    await pool_b.start()
    try:

        async def b_holds_it() -> bool:
            current = await jq.get(job.id)
            return current.attempt >= 2 and current.worker_id == pool_b.pool_id

        await wait_for(b_holds_it, timeout=10, what="B to claim the job")
        with capture_logs() as logs:
            outage.failures["heartbeat"] = 0  # A's heartbeats work again and find the loss
            await wait_for(
                lambda: any(e["event"] == "lease_lost" for e in logs),
                timeout=5,
                what="A's heartbeat to notice",
            )
            gate.set()
            done = await jq.wait(job.id, timeout=10)
            await wait_for(lambda: pool_a.busy == 0, what="A to finish")
    finally:
        gate.set()
        await pool_a.stop(grace=2)
        await pool_b.stop(grace=2)
    assert done.status is JobState.SUCCEEDED and done.worker_id == pool_b.pool_id
    lost = {"queue": "default", "type": "hold"}
    assert metrics.registry.get_sample_value("jobq_leases_lost_total", lost) == 1


class LateAnswer(Meddled):
    """``complete_many`` commits at once but answers only once the heartbeat has gone round
    twice more (as over a slow network: the change is committed, the caller not yet told)."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner, {"complete_many": self._complete, "heartbeat": self._heartbeat})
        self.beats = 0
        self.answered = asyncio.Event()

    async def _heartbeat(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        self.beats += 1
        return await method(*args, **kwargs)

    async def _complete(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        written = await method(*args, **kwargs)
        # The second beat begins only after the first has read the store's answer and
        # judged it: at least one whole heartbeat met the committed outcome.
        beats = self.beats
        await wait_for(lambda: self.beats >= beats + 2, what="two heartbeats after the commit")
        self.answered.set()
        return written


async def test_a_heartbeat_during_the_jobs_own_outcome_is_not_a_lost_lease(jq: JobQueue) -> None:
    """The outcome is committed but its answer is slow; heartbeats meanwhile find the job no
    longer running. That is the job ending, not another worker taking it: no lease_lost."""
    late = LateAnswer(jq.store)
    metrics = Metrics()
    config = PoolConfig(worker_count=1, lease_seconds=0.3, poll_interval=0.02)  # beats: 0.1 s
    pool = WorkerPool(late, jq.registry, config, metrics=metrics)  # type: ignore[arg-type]
    with capture_logs() as logs:
        job = await jq.enqueue("echo", {})
        await pool.start()
        try:
            assert (await jq.wait(job.id, timeout=10)).status is JobState.SUCCEEDED
            await asyncio.wait_for(late.answered.wait(), 10)  # heartbeats ran meanwhile
            await wait_for(lambda: pool.held == 0, what="the pool to let the job go")
        finally:
            await pool.stop()
    assert logged(logs, "lease_lost") == 0
    assert metrics.registry.get_sample_value(
        "jobq_leases_lost_total", {"queue": "default", "type": "echo"}
    ) in (None, 0)
