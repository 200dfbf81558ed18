"""Store contract, the kept counts (schema 8): ``Reads.counts`` reads counts that triggers keep as
jobs come, change state and go; after every kind of change, and after many processes changed
jobs at once, they equal a count of the jobs themselves; both stores alike."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.schedule import TICK_KEY_PREFIX
from jobq.domain.states import JobState
from jobq.domain.unique import Unique, unique_fields
from jobq.store import JobFilter, Store, open_store
from jobq.store.options import PostgresOptions
from tests.contract.support import (
    OTHER,
    WORKER,
    add,
    boom,
    claim,
    complete,
    fail,
    new,
)


async def kept(store: Store) -> dict[tuple[str, str], int]:
    return {(c.queue, c.status.value): c.count for c in await store.reads.counts()}


async def counted(store: Store) -> dict[tuple[str, str], int]:
    """The jobs themselves, counted page by page."""
    found: Counter[tuple[str, str]] = Counter()
    after = None
    while True:
        page = await store.reads.list_jobs(JobFilter(), limit=500, after=after)
        found.update((job.queue, job.status.value) for job in page.jobs)
        if page.next_after is None:
            return dict(found)
        after = page.next_after


async def same(store: Store) -> dict[tuple[str, str], int]:
    counts = await kept(store)
    assert counts == await counted(store)
    # ints, not another number type (PostgreSQL's sum of bigints is a numeric)
    assert all(type(row.count) is int for row in await store.reads.counts())
    return counts


async def test_every_kind_of_change_is_counted(store: Store, clock: FakeClock) -> None:
    assert await same(store) == {}
    jobs = await add(store, *(new("a", queue=q) for q in ("q1", "q1", "q1", "q1", "q2", "q2")))
    assert await same(store) == {("q1", "pending"): 4, ("q2", "pending"): 2}
    taken = await claim(store, limit=4, queues=["q1"])
    assert await same(store) == {("q1", "running"): 4, ("q2", "pending"): 2}
    ok, retried, dead, _expires = taken  # the last one's lease runs out below
    assert await complete(store, ok.lease, {}, slot=WORKER, started_at=clock.now())
    later = clock.now() + timedelta(seconds=5)
    assert await fail(store, retried.lease, boom(), slot=WORKER, started_at=clock.now(),
                      retry_at=later)  # fmt: skip
    assert await fail(store, dead.lease, boom(), slot=WORKER, started_at=clock.now(),
                      retry_at=None)  # fmt: skip
    await store.admin.cancel(jobs[4].id)
    assert await same(store) == {
        ("q1", "succeeded"): 1,
        ("q1", "failed"): 1,
        ("q1", "dead"): 1,
        ("q1", "running"): 1,
        ("q2", "cancelled"): 1,
        ("q2", "pending"): 1,
    }
    clock.advance(60)  # the lease of `lost` ran out: pending again
    assert len(await store.expiry.requeue_expired()) == 1
    await store.admin.retry(dead.id)
    [again] = await claim(store, OTHER, limit=1, queues=["q2"])
    assert await store.claims.release_unstarted([again.lease]) == {again.id}
    assert await same(store) == {
        ("q1", "succeeded"): 1,
        ("q1", "failed"): 1,
        ("q1", "pending"): 2,
        ("q2", "cancelled"): 1,
        ("q2", "pending"): 1,
    }
    key, states = unique_fields(Unique(key="u", on_conflict="replace"), "a", {}, clock.now())
    unique = new("a", queue="q3", unique_key=key, unique_states=states, unique_replace=True)
    await store.enqueuer.enqueue([unique, unique])  # one made, then replaced
    tick = clock.now()
    fired = new("a", queue="q3", run_at=tick, idempotency_key=f"{TICK_KEY_PREFIX}s:1")
    assert await store.ticks.fire("s", tick, fired) is not None
    clock.advance(86_400)
    assert await store.retention.prune(JobState.SUCCEEDED, "a", 0, limit=10) == {"q1": 1}
    assert await store.retention.prune(JobState.CANCELLED, "a", 0, limit=10) == {"q2": 1}
    assert await same(store) == {
        ("q1", "failed"): 1,
        ("q1", "pending"): 2,
        ("q2", "pending"): 1,
        ("q3", "pending"): 2,
    }


WORK_QUEUES = ("q0", "q1", "q2")


async def test_processes_changing_jobs_at_once_keep_the_counts_true(
    store_url: str, store: Store, clock: FakeClock
) -> None:
    stores = [
        await open_store(store_url, clock=clock, postgres=PostgresOptions(pool_size=3))
        for _ in range(4)
    ]

    async def churn(one: Store, index: int) -> None:
        for round_ in range(5):
            await add(one, *(new("a", queue=f"q{(index + n) % 3}") for n in range(12)))
            # the claims leave queue c alone: its jobs are there to be cancelled
            for job in await claim(one, limit=8, queues=WORK_QUEUES):
                if (job.attempt + round_) % 3 == 0:
                    await one.admin.cancel((await add(one, new("a", queue="c")))[0].id)
                done = await complete(one, job.lease, {}, slot=WORKER, started_at=clock.now())
                assert done

    try:
        await asyncio.gather(*(churn(one, index) for index, one in enumerate(stores)))
    finally:
        for one in stores:
            await one.close()
    counts = await same(store)
    assert sum(counts.values()) == 4 * 5 * 12 + counts.get(("c", "cancelled"), 0)
