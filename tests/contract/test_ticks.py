"""The ticks of periodic jobs in the store: each tick makes one job, whoever fires it and
however many fire it at once; an older tick never makes one after a newer; both stores alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.states import JobState
from jobq.store import JobFilter, Store, open_store
from tests.contract.support import new


async def test_a_tick_makes_its_job_once_and_is_recorded(store: Store, clock: FakeClock) -> None:
    tick = clock.now() - timedelta(seconds=1)
    job = new("echo", payload={"n": 1}, run_at=tick, idempotency_key="schedule:s:1")
    result = await store.ticks.fire("s", tick, job)
    assert result is not None and result.created
    made = result.job
    assert made.status is JobState.PENDING and made.run_at == tick and made.payload == {"n": 1}
    assert await store.reads.get(made.id) == made
    assert await store.ticks.fire("s", tick, job) is None  # the same tick again
    assert await store.ticks.fire("s", tick - timedelta(seconds=5), job) is None  # an older one
    [record] = (await store.ticks.last()).values()
    assert (record.schedule, record.tick, record.job_id) == ("s", tick, made.id)
    assert record.fired_at == clock.now()
    page = await store.reads.list_jobs(JobFilter(), limit=10)
    assert [j.id for j in page.jobs] == [made.id]


async def test_a_later_tick_makes_a_new_job_and_schedules_are_apart(
    store: Store, clock: FakeClock
) -> None:
    first, second = clock.now(), clock.now() + timedelta(minutes=1)
    one = await store.ticks.fire("a", first, new("echo", run_at=first, idempotency_key="a1"))
    two = await store.ticks.fire("a", second, new("echo", run_at=second, idempotency_key="a2"))
    other = await store.ticks.fire("b", first, new("echo", run_at=first, idempotency_key="b1"))
    assert one is not None and two is not None and other is not None
    assert len({one.job.id, two.job.id, other.job.id}) == 3
    last = await store.ticks.last()
    assert {name: (r.tick, r.job_id) for name, r in last.items()} == {
        "a": (second, two.job.id),
        "b": (first, other.job.id),
    }
    assert await store.ticks.forget("a") and not await store.ticks.forget("a")
    assert set(await store.ticks.last()) == {"b"}
    # forgotten: its next tick is its first again, and a tick whose job exists returns that job
    again = await store.ticks.fire("a", second, new("echo", run_at=second, idempotency_key="a2"))
    assert again is not None and not again.created and again.job.id == two.job.id


async def test_fifty_processes_firing_one_tick_at_once_make_one_job(
    store_url: str, clock: FakeClock
) -> None:
    stores = [await open_store(store_url, clock=clock) for _ in range(5)]
    try:
        tick = clock.now()
        job = new("echo", run_at=tick, idempotency_key="schedule:race:1")
        fired = await asyncio.gather(
            *(stores[i % 5].ticks.fire("race", tick, job) for i in range(50))
        )
        made = [r for r in fired if r is not None]
        assert len(made) == 1 and made[0].created
        page = await stores[0].reads.list_jobs(JobFilter(), limit=100)
        assert [j.id for j in page.jobs] == [made[0].job.id]
        assert (await stores[0].ticks.last())["race"].job_id == made[0].job.id
    finally:
        for opened in stores:
            await opened.close()
