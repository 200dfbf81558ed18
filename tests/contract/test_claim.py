"""Store contract: claim takes due jobs in order, atomically, each once while its lease holds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.states import JobState
from jobq.store import PostgresOptions, Store, open_store
from tests.contract.support import LEASE, OTHER, OWNER, add, boom, claim_one, later, new


async def test_claim_marks_running_with_lease_owner_and_next_attempt(
    store: Store, clock: FakeClock
) -> None:
    [job] = await add(store, new())
    claimed = await claim_one(store)
    assert claimed.id == job.id
    assert claimed.status is JobState.RUNNING
    assert claimed.attempt == 1
    assert claimed.worker_id == OWNER
    assert claimed.lease_expires_at == later(clock, LEASE)
    assert claimed.started_at == clock.now()
    assert await store.get(job.id) == claimed


async def test_claim_order_is_priority_then_run_at_then_id(store: Store, clock: FakeClock) -> None:
    early = clock.now() - timedelta(seconds=10)
    low_early, high_late, high_early, high_early_2 = await add(
        store,
        new(priority=0, run_at=early),
        new(priority=5),
        new(priority=5, run_at=early),
        new(priority=5, run_at=early),
    )
    claimed = await store.claim(OWNER, queues=None, limit=10, lease_seconds=LEASE)
    assert [j.id for j in claimed] == [high_early.id, high_early_2.id, high_late.id, low_early.id]


async def test_claim_respects_limit_and_never_returns_a_job_twice(store: Store) -> None:
    jobs = await add(store, *(new() for _ in range(10)))
    first = await store.claim(OWNER, queues=None, limit=4, lease_seconds=LEASE)
    second = await store.claim(OTHER, queues=None, limit=4, lease_seconds=LEASE)
    third = await store.claim(OWNER, queues=None, limit=4, lease_seconds=LEASE)
    assert (len(first), len(second), len(third)) == (4, 4, 2)
    ids = [j.id for j in first + second + third]
    assert sorted(ids) == sorted(j.id for j in jobs)
    assert await store.claim(OWNER, queues=None, limit=4, lease_seconds=LEASE) == []


async def test_claim_takes_only_due_jobs(store: Store, clock: FakeClock) -> None:
    [future] = await add(store, new(run_at=later(clock, 60)))
    assert await store.claim(OWNER, queues=None, limit=10, lease_seconds=LEASE) == []
    clock.advance(60)
    assert [j.id for j in await store.claim(OWNER, queues=None, limit=10, lease_seconds=LEASE)] == [
        future.id
    ]


async def test_claim_filters_by_queue(store: Store) -> None:
    a, b, c = await add(store, new(queue="a"), new(queue="b"), new(queue="c"))
    claimed = await store.claim(OWNER, queues=["a", "c"], limit=10, lease_seconds=LEASE)
    assert {j.id for j in claimed} == {a.id, c.id}
    assert await store.claim(OWNER, queues=[], limit=10, lease_seconds=LEASE) == []
    assert [j.id for j in await store.claim(OWNER, queues=None, limit=10, lease_seconds=LEASE)] == [
        b.id
    ]


async def test_zero_limit_claims_nothing(store: Store) -> None:
    await add(store, new())
    assert await store.claim(OWNER, queues=None, limit=0, lease_seconds=LEASE) == []


async def test_failed_job_is_claimed_again_when_its_retry_is_due(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    assert await store.fail(
        job.lease, boom(), worker_id=OWNER, started_at=clock.now(), retry_at=later(clock, 5)
    )
    assert await store.claim(OWNER, queues=None, limit=1, lease_seconds=LEASE) == []
    clock.advance(5)
    again = await claim_one(store, OTHER)
    assert again.id == job.id and again.attempt == 2 and again.worker_id == OTHER


async def test_finished_and_cancelled_jobs_are_never_claimed(
    store: Store, clock: FakeClock
) -> None:
    done, dead, cancelled = await add(store, new(), new(), new())
    await store.cancel(cancelled.id)
    first = await claim_one(store)
    second = await claim_one(store)
    assert {first.id, second.id} == {done.id, dead.id}
    await store.complete(first.lease, None, worker_id=OWNER, started_at=clock.now())
    await store.fail(second.lease, boom(), worker_id=OWNER, started_at=clock.now(), retry_at=None)
    clock.advance(3600)
    assert await store.claim(OWNER, queues=None, limit=10, lease_seconds=LEASE) == []


async def test_concurrent_claimers_on_separate_connections_claim_each_job_once(
    store_url: str, clock: FakeClock
) -> None:
    """20 stores (each its own connections) race over 500 jobs."""
    options = PostgresOptions(pool_size=2)
    stores = [await open_store(store_url, clock=clock, postgres=options) for _ in range(20)]
    try:
        jobs = await add(stores[0], *(new(payload={"i": i}) for i in range(500)))

        async def drain(index: int) -> list[str]:
            got: list[str] = []
            while batch := await stores[index].claim(
                OWNER, queues=None, limit=3, lease_seconds=LEASE
            ):
                got.extend(j.id for j in batch)
            return got

        claimed = [i for ids in await asyncio.gather(*(drain(i) for i in range(20))) for i in ids]
        assert len(claimed) == len(set(claimed)) == 500
        assert set(claimed) == {j.id for j in jobs}
    finally:
        for opened in stores:
            await opened.close()
