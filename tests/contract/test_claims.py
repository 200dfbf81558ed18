"""Store contract, ``Claims``: claim takes due jobs in order, atomically, each once while its lease
holds; heartbeats extend held leases; unstarted jobs are handed back with their attempt."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.job import Lease
from jobq.domain.states import JobState
from jobq.store import PostgresOptions, Store, open_store
from tests.contract.support import (
    LEASE,
    OTHER,
    OWNER,
    WORKER,
    add,
    boom,
    claim,
    claim_one,
    complete,
    fail,
    later,
    new,
)


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
    assert await store.reads.get(job.id) == claimed


async def test_claim_order_is_priority_then_run_at_then_id(store: Store, clock: FakeClock) -> None:
    early = clock.now() - timedelta(seconds=10)
    low_early, high_late, high_early, high_early_2 = await add(
        store,
        new(priority=0, run_at=early),
        new(priority=5),
        new(priority=5, run_at=early),
        new(priority=5, run_at=early),
    )
    claimed = await claim(store, OWNER, limit=10)
    assert [j.id for j in claimed] == [high_early.id, high_early_2.id, high_late.id, low_early.id]


async def test_claim_respects_limit_and_never_returns_a_job_twice(store: Store) -> None:
    jobs = await add(store, *(new() for _ in range(10)))
    first = await claim(store, OWNER, limit=4)
    second = await claim(store, OTHER, limit=4)
    third = await claim(store, OWNER, limit=4)
    assert (len(first), len(second), len(third)) == (4, 4, 2)
    ids = [j.id for j in first + second + third]
    assert sorted(ids) == sorted(j.id for j in jobs)
    assert await claim(store, OWNER, limit=4) == []


async def test_claim_takes_only_due_jobs(store: Store, clock: FakeClock) -> None:
    [future] = await add(store, new(run_at=later(clock, 60)))
    assert await claim(store, OWNER, limit=10) == []
    clock.advance(60)
    assert [j.id for j in await claim(store, OWNER, limit=10)] == [future.id]


async def test_claim_filters_by_queue(store: Store) -> None:
    a, b, c = await add(store, new(queue="a"), new(queue="b"), new(queue="c"))
    claimed = await claim(store, OWNER, limit=10, queues=["a", "c"])
    assert {j.id for j in claimed} == {a.id, c.id}
    assert await claim(store, OWNER, limit=10, queues=[]) == []
    assert [j.id for j in await claim(store, OWNER, limit=10)] == [b.id]


async def test_zero_limit_claims_nothing(store: Store) -> None:
    await add(store, new())
    assert await claim(store, OWNER, limit=0) == []


async def test_failed_job_is_claimed_again_when_its_retry_is_due(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    assert await fail(
        store, job.lease, boom(), slot=OWNER, started_at=clock.now(), retry_at=later(clock, 5)
    )
    assert await claim(store, OWNER, limit=1) == []
    clock.advance(5)
    again = await claim_one(store, OTHER)
    assert again.id == job.id and again.attempt == 2 and again.worker_id == OTHER


async def test_finished_and_cancelled_jobs_are_never_claimed(
    store: Store, clock: FakeClock
) -> None:
    done, dead, cancelled = await add(store, new(), new(), new())
    await store.admin.cancel(cancelled.id)
    first = await claim_one(store)
    second = await claim_one(store)
    assert {first.id, second.id} == {done.id, dead.id}
    await complete(store, first.lease, None, slot=OWNER, started_at=clock.now())
    await fail(store, second.lease, boom(), slot=OWNER, started_at=clock.now(), retry_at=None)
    clock.advance(3600)
    assert await claim(store, OWNER, limit=10) == []


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
            while batch := await claim(stores[index], OWNER, limit=3):
                got.extend(j.id for j in batch)
            return got

        claimed = [i for ids in await asyncio.gather(*(drain(i) for i in range(20))) for i in ids]
        assert len(claimed) == len(set(claimed)) == 500
        assert set(claimed) == {j.id for j in jobs}
    finally:
        for opened in stores:
            await opened.close()


async def test_heartbeat_extends_only_held_leases(store: Store, clock: FakeClock) -> None:
    await add(store, new(), new())
    one, two = await claim_one(store), await claim_one(store)
    clock.advance(LEASE - 1)
    assert await store.claims.heartbeat([one.lease], lease_seconds=LEASE) == {one.id}
    clock.advance(2)  # `two` has now expired; `one` was extended
    expired = await store.expiry.requeue_expired()
    assert [e.job_id for e in expired] == [two.id]
    held = await store.reads.get(one.id)
    assert held is not None and held.status is JobState.RUNNING
    assert held.lease_expires_at == later(clock, LEASE - 2)
    assert await store.claims.heartbeat([], lease_seconds=LEASE) == set()


async def test_owned_gives_back_what_a_claim_returned(store: Store, clock: FakeClock) -> None:
    """After a claim whose answer was lost, the pool asks what it holds: the same jobs, with
    the same leases, that the claim would have returned; none of another owner's, none that
    has ended."""
    await add(store, new(priority=1), new(), new(), new())
    mine = await claim(store, OWNER, limit=3)
    theirs = await claim_one(store, OTHER)
    assert await store.claims.owned(OWNER) == mine
    assert await store.claims.owned(OTHER) == [theirs]
    await complete(store, mine[0].lease, None, slot=WORKER, started_at=clock.now())
    assert [job.id for job in await store.claims.owned(OWNER)] == [j.id for j in mine[1:]]
    clock.advance(LEASE + 1)
    await store.expiry.requeue_expired()  # a lease gone is not held any more
    assert await store.claims.owned(OWNER) == []
    assert await store.claims.owned(OTHER) == []


async def test_release_of_an_unstarted_job_gives_the_attempt_back(
    store: Store, clock: FakeClock
) -> None:
    [queued] = await add(store, new())
    job = await claim_one(store)
    assert await store.claims.release_unstarted([job.lease]) == {job.id}
    back = await store.reads.get(job.id)
    assert back is not None
    assert back.status is JobState.PENDING and back.attempt == 0
    assert back.worker_id is None and back.lease_expires_at is None
    assert back.run_at == queued.run_at
    assert await store.reads.attempts(job.id) == []
    assert (await claim_one(store)).attempt == 1


async def test_release_unstarted_hands_back_only_what_the_leases_hold(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(), new(), new())
    a, b, c = await claim_one(store), await claim_one(store), await claim_one(store)
    await complete(store, c.lease, None, slot=WORKER, started_at=clock.now())
    stale = Lease(b.id, OWNER, b.attempt + 1)
    released = await store.claims.release_unstarted([a.lease, stale, c.lease])
    assert released == {a.id}
    back = await store.reads.get(a.id)
    assert back is not None and back.status is JobState.PENDING and back.attempt == 0
    assert back.started_at is None and back.worker_id is None
    assert (await store.reads.get(b.id)).status is JobState.RUNNING  # type: ignore[union-attr]
    assert await store.reads.attempts(a.id) == []
    assert await store.claims.release_unstarted([]) == set()


# -- by type: a pool claims only the types it has handlers for ---------------------------------


async def test_claim_takes_only_the_types_asked_for(store: Store) -> None:
    mail, video, report = await add(store, new("email.send"), new("video.encode"), new("report"))
    claimed = await claim(store, OWNER, limit=10, types=["email.send", "report"])
    assert {j.id for j in claimed} == {mail.id, report.id}
    assert await claim(store, OWNER, limit=10, types=[]) == []
    assert await claim(store, OWNER, limit=10, types=["email.send"]) == []
    assert [j.id for j in await claim(store, OWNER, limit=10)] == [video.id]  # any type


async def test_claim_by_type_keeps_claim_order_across_types(store: Store, clock: FakeClock) -> None:
    early = clock.now() - timedelta(seconds=10)
    jobs = await add(
        store,
        new("a", priority=0, run_at=early),  # 0
        new("b", priority=5),  # 1
        new("a", priority=5, run_at=early),  # 2
        new("b", priority=5, run_at=early),  # 3
        new("c", priority=9),  # 4: a type the claim does not take
        new("a", priority=1),  # 5
    )
    claimed = await claim(store, OWNER, limit=4, types=["a", "b"])
    assert [j.id for j in claimed] == [jobs[i].id for i in (2, 3, 1, 5)]
    assert [j.id for j in await claim(store, OWNER, limit=4, types=["b", "a"])] == [jobs[0].id]


async def test_claim_by_type_respects_limit_queues_and_due(store: Store, clock: FakeClock) -> None:
    due = await add(store, *(new("a", queue="q") for _ in range(3)), new("a", queue="other"))
    await add(store, new("a", queue="q", run_at=later(clock, 60)), new("b", queue="q"))
    first = await claim(store, OWNER, limit=2, queues=["q"], types=["a", "b"])
    assert [j.type for j in first] == ["a", "a"] and {j.queue for j in first} == {"q"}
    rest = await claim(store, OTHER, limit=10, queues=["q"], types=["a"])
    assert {j.id for j in first + rest} == {j.id for j in due[:3]}
    assert await claim(store, OWNER, limit=10, queues=["q"], types=["a"]) == []  # one is due later


async def test_claim_by_many_types(store: Store) -> None:
    """More types than a store writes one arm each for (SQLite: 100) are claimed all the same."""
    names = [f"type.{n:03}" for n in range(150)]
    jobs = await add(store, *(new(name, priority=n % 7) for n, name in enumerate(names[::3])))
    claimed = await claim(store, OWNER, limit=100, types=names)
    assert sorted(j.id for j in claimed) == sorted(j.id for j in jobs)
    assert [j.priority for j in claimed] == sorted((j.priority for j in claimed), reverse=True)


async def test_concurrent_claims_by_type_never_take_a_job_twice(store: Store) -> None:
    jobs = await add(store, *(new("a" if n % 2 else "b") for n in range(60)))
    owners = [OWNER, OTHER, OWNER, OTHER]
    batches = await asyncio.gather(
        *(claim(store, owner, limit=10, types=["a", "b"]) for owner in owners)
    )
    batches.append(await claim(store, OWNER, limit=100, types=["a", "b"]))
    ids = [j.id for batch in batches for j in batch]
    assert sorted(ids) == sorted(j.id for j in jobs)
