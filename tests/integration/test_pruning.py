"""Retention through JobQueue and the pool's pruner, on both stores and a fake clock: finished
jobs go once their state's time is up, a type's own retention holds in every process (those
without its handler too), sweeps are counted, logged and bounded in batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest
import structlog
from structlog.testing import capture_logs

import jobq.pruning as pruning_module
from jobq import JobQueue, Retain
from jobq.clock import FakeClock
from jobq.domain.job import Job
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.pruning import Pruning
from jobq.registry import make_job_type
from jobq.store import JobFilter, PostgresOptions
from jobq.worker.pruner import Pruner

HOUR = 3600.0
log = structlog.get_logger("test")


@pytest.fixture
async def queue(store_url: str, clock: FakeClock) -> AsyncIterator[JobQueue]:
    jq = JobQueue(
        store_url,
        clock=clock,
        postgres=PostgresOptions(pool_size=4),
        retain=Retain(succeeded="1h", dead="forever"),
    )

    @jq.job("kept", retain=Retain(succeeded="1d"))
    async def kept(payload: dict[str, object]) -> None: ...

    @jq.job("brief", retain=Retain(succeeded=0, cancelled="1m"))
    async def brief(payload: dict[str, object]) -> None: ...

    @jq.job("broken", max_attempts=1)
    async def broken(payload: dict[str, object]) -> None:
        raise RuntimeError("no")

    async with jq:
        yield jq


async def remaining(jq: JobQueue) -> list[tuple[str, JobState]]:
    page = await jq.list_jobs(JobFilter(), limit=1000)
    return sorted((job.type, job.status) for job in page.jobs)


async def run_all(jq: JobQueue, *types: str) -> list[Job]:
    jobs = [await jq.enqueue(job_type, {}) for job_type in types]
    await jq.run(until_idle=True)
    return jobs


async def test_the_pool_sweep_deletes_what_is_due_and_counts_and_logs_it(
    queue: JobQueue, clock: FakeClock
) -> None:
    await run_all(queue, "echo", "echo", "kept", "brief", "broken")
    cancelled = await queue.enqueue("echo", {})
    await queue.cancel(cancelled.id)
    metrics = Metrics()
    pruner = Pruner(queue.pruning, interval=10, log=log, metrics=metrics)
    clock.advance(1)
    with capture_logs() as logs:
        assert await pruner.sweep() == 1  # brief: kept for 0 s
    [event] = [e for e in logs if e["event"] == "jobs_pruned"]
    assert (event["count"], event["succeeded"], event["cancelled"], event["dead"]) == (1, 1, 0, 0)
    clock.advance(2 * HOUR)
    assert await pruner.sweep() == 2  # the two echo jobs, after their hour
    assert await remaining(queue) == [
        ("broken", JobState.DEAD),  # dead: forever
        ("echo", JobState.CANCELLED),  # cancelled: the default 7 days
        ("kept", JobState.SUCCEEDED),  # its own day
    ]
    clock.advance(8 * 24 * HOUR)
    assert await pruner.sweep() == 2
    assert await remaining(queue) == [("broken", JobState.DEAD)]
    samples = {
        (s.labels["type"], s.labels["status"]): s.value
        for s in metrics.pruned.collect()[0].samples
        if s.name == "jobq_pruned_total"
    }
    assert samples == {
        ("brief", "succeeded"): 1,
        ("echo", "succeeded"): 2,
        ("echo", "cancelled"): 1,
        ("kept", "succeeded"): 1,
    }
    assert b'jobq_pruned_total{queue="default",status="succeeded",type="echo"} 2.0' in (
        metrics.render()
    )


async def test_a_types_own_retention_holds_in_a_process_without_its_handler(
    queue: JobQueue, store_url: str, clock: FakeClock
) -> None:
    await run_all(queue, "kept", "echo")
    await Pruner(
        queue.pruning, interval=10, log=log, metrics=None
    ).start()  # as a pool does at start
    # another process: the API only, its settings keep succeeded jobs one minute
    other = JobQueue(
        store_url, clock=clock, postgres=PostgresOptions(pool_size=2), retain=Retain(succeeded=60)
    )
    async with other:
        policy = await other.pruning.policy()
        assert policy.keep("kept", JobState.SUCCEEDED) == 86_400.0
        assert policy.keep("echo", JobState.SUCCEEDED) == 60.0
        clock.advance(2 * HOUR)
        report = await other.pruning.prune()
    assert report.counts == {(JobState.SUCCEEDED, "echo"): 1}
    assert await remaining(queue) == [("kept", JobState.SUCCEEDED)]


async def test_a_dry_run_counts_and_deletes_nothing_and_older_than_overrides_all(
    queue: JobQueue, clock: FakeClock
) -> None:
    await run_all(queue, "echo", "kept", "broken")
    clock.advance(2 * HOUR)
    dry = await queue.pruning.prune(dry_run=True)
    assert dry.dry_run and dry.counts == {(JobState.SUCCEEDED, "echo"): 1}
    assert len(await remaining(queue)) == 3
    policy = (await queue.pruning.policy()).everything_older_than(HOUR)
    report = await queue.pruning.prune(policy)
    assert report.by_state() == {"succeeded": 2, "cancelled": 0, "dead": 1}
    assert await remaining(queue) == []


async def test_sweeps_go_in_batches_until_none_is_due(
    queue: JobQueue, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await queue.enqueue_many([queue.new_job("echo", {"n": n}) for n in range(23)])
    await queue.run(until_idle=True)
    clock.advance(2 * HOUR)
    calls: list[int] = []
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(pruning_module, "asyncio", SimpleNamespace(sleep=sleep))
    report = await queue.pruning.prune(
        batch=5, on_pruned=lambda queue, job_type, state, count: calls.append(count), paced=True
    )
    assert report.total == 23 and calls == [5, 5, 5, 5, 3]
    # paced, as a pool sweeps: after each full batch, a pause as long as it took (never 0)
    assert len(pauses) == 4 and all(0 < pause <= 1.0 for pause in pauses)


def test_a_types_retention_is_checked_when_it_is_declared() -> None:
    with pytest.raises(ValueError, match="retain dead: '3 days' is not a duration"):
        Retain(dead="3 days")
    with pytest.raises(ValueError, match="a retention must be 0"):
        Retain(succeeded=-1)
    with pytest.raises(TypeError, match="retain must be a Retain"):
        make_job_type("x", lambda payload: None, retain={"dead": 5})  # type: ignore[arg-type]
    pruning = Pruning(lambda: None, JobQueue().registry, {})  # type: ignore[arg-type,return-value]
    assert pruning.declared_here() == {}
