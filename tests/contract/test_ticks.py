"""The ticks of periodic jobs in the store: each tick makes one job, whoever fires it and
however many fire it at once; an older tick never makes one after a newer; both stores alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import ScheduleConflict
from jobq.domain.schedule import make_schedule
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


async def test_a_changed_or_removed_stored_schedule_makes_no_job_from_its_old_version(
    store: Store, clock: FakeClock
) -> None:
    made = await store.schedules.add(make_schedule("echo", "* * * * *", name="s", stored=True))
    version = made.schedule.version
    assert version == made.updated_at == clock.now()
    clock.advance(60)
    tick = clock.now()
    job = new("echo", run_at=tick, idempotency_key="k1")
    changed = make_schedule("echo", "*/5 * * * *", name="s", stored=True)
    clock.advance(1)
    replaced = await store.schedules.replace(changed)
    assert replaced is not None and replaced.updated_at == clock.now()
    assert await store.ticks.fire("s", tick, job, version=version) is None  # stale: refused
    fired = await store.ticks.fire("s", tick, job, version=replaced.updated_at)
    assert fired is not None and fired.created
    assert await store.schedules.remove("s")
    later = tick + timedelta(minutes=5)
    stale = new("echo", run_at=later, idempotency_key="k2")
    assert await store.ticks.fire("s", later, stale, version=replaced.updated_at) is None
    assert "s" not in await store.ticks.last()  # nothing left behind


async def test_a_paused_schedule_makes_no_job_and_resuming_passes_the_pause_over(
    store: Store, clock: FakeClock
) -> None:
    made = await store.schedules.add(
        make_schedule("echo", "* * * * *", name="p", stored=True), paused=True
    )
    record = (await store.ticks.last())["p"]
    assert record.paused and record.job_id is None and record.tick == clock.now()
    clock.advance(120)
    tick = clock.now() - timedelta(seconds=30)
    job = new("echo", run_at=tick, idempotency_key="p1")
    assert await store.ticks.fire("p", tick, job, version=made.updated_at) is None
    await store.ticks.set_paused("p", False)
    resumed = (await store.ticks.last())["p"]
    assert not resumed.paused and resumed.tick == clock.now()
    assert await store.ticks.fire("p", tick, job, version=made.updated_at) is None  # passed over
    clock.advance(60)
    after = clock.now()
    fired = await store.ticks.fire("p", after, new("echo", run_at=after, idempotency_key="p2"))
    assert fired is not None
    # a new schedule of a taken name is refused, and the pause of the old one stays as it was
    with pytest.raises(ScheduleConflict):
        await store.schedules.add(make_schedule("echo", "0 * * * *", name="p", stored=True))
    await store.ticks.set_paused("p", True)
    with pytest.raises(ScheduleConflict):
        await store.schedules.add(make_schedule("echo", "0 * * * *", name="p", stored=True))
    assert (await store.ticks.last())["p"].paused
