"""Store contract, ``QueueControl``: a paused queue's jobs are not claimed (by a claim of every
queue, of the queue by name, or by type) while its pause holds; jobs are still accepted into it;
its running jobs still finish; a resume or the pause's end makes them claimable again; the
pauses are stored, so another store on the same database sees them."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.states import JobState
from jobq.store import Store, open_store
from tests.contract.support import add, claim, complete, later, new

WORKER = "w1"


async def test_a_paused_queue_is_passed_over_by_every_kind_of_claim(
    store: Store, clock: FakeClock
) -> None:
    # the paused queue's jobs come first in claim order: a claim must pass over them
    held = await add(store, *(new("a", queue="held", priority=9) for _ in range(3)))
    await add(store, new("a", queue="free"), new("b", queue="free"))
    pause = await store.queue_control.pause("held", until=None)
    assert (pause.queue, pause.paused_at, pause.until) == ("held", clock.now(), None)

    assert {job.queue for job in await claim(store, limit=10)} == {"free"}
    assert await claim(store, queues=["held"]) == []
    assert await claim(store, queues=["held", "free"]) == []
    assert await claim(store, types=["a", "b"]) == []
    assert await claim(store, queues=["held"], types=["a"]) == []
    # accepted while paused, and still waiting
    await add(store, new("a", queue="held"))
    for job in held:
        found = await store.reads.get(job.id)
        assert found is not None and found.status is JobState.PENDING


async def test_a_resume_makes_the_jobs_claimable_again(store: Store) -> None:
    await add(store, new(queue="held"))
    await store.queue_control.pause("held", until=None)
    assert await store.queue_control.resume("held") is True
    assert await store.queue_control.pauses() == []
    assert [job.queue for job in await claim(store)] == ["held"]
    assert await store.queue_control.resume("held") is False  # nothing to lift


async def test_a_pause_until_a_time_ends_by_itself(store: Store, clock: FakeClock) -> None:
    await add(store, new(queue="held"))
    pause = await store.queue_control.pause("held", until=later(clock, 60))
    assert pause.until == later(clock, 60)
    clock.advance(59)
    assert await claim(store) == []
    assert [p.queue for p in await store.queue_control.pauses()] == ["held"]
    clock.advance(1)
    assert await store.queue_control.pauses() == []
    assert len(await claim(store)) == 1


async def test_pausing_again_moves_the_end_and_keeps_the_start(
    store: Store, clock: FakeClock
) -> None:
    first = await store.queue_control.pause("held", until=later(clock, 60))
    clock.advance(10)
    again = await store.queue_control.pause("held", until=None)
    assert (again.paused_at, again.until) == (first.paused_at, None)
    clock.advance(100)  # the first pause's end has passed: the second holds
    assert [p.queue for p in await store.queue_control.pauses()] == ["held"]
    await store.queue_control.resume("held")
    await store.queue_control.pause("held", until=later(clock, 5))
    clock.advance(5)  # that one ended: a new pause starts now
    fresh = await store.queue_control.pause("held", until=None)
    assert fresh.paused_at == clock.now()


async def test_running_jobs_of_a_paused_queue_finish(store: Store, clock: FakeClock) -> None:
    await add(store, new(queue="held"))
    [job] = await claim(store)
    await store.queue_control.pause("held", until=None)
    assert await complete(store, job.lease, {"ok": True}, slot=WORKER, started_at=clock.now())
    done = await store.reads.get(job.id)
    assert done is not None and done.status is JobState.SUCCEEDED


async def test_the_pauses_are_stored_for_every_process(
    store_url: str, store: Store, clock: FakeClock
) -> None:
    other = await open_store(store_url, clock=clock)
    try:
        await add(store, new(queue="held"), new(queue="q2"))
        await other.queue_control.pause("held", until=None)
        await other.queue_control.pause("q2", until=later(clock, 30))
        pauses = await store.queue_control.pauses()
        assert [(p.queue, p.until) for p in pauses] == [
            ("held", None),
            ("q2", later(clock, 30)),
        ]
        assert await claim(store) == []
    finally:
        await other.close()


async def test_a_pause_holds_at_once_for_a_store_that_read_the_pauses_before_it(
    store_url: str, store: Store, clock: FakeClock
) -> None:
    """PostgreSQL's pools plan around pauses read up to a second ago; the claim statement
    checks the pauses itself, so a pause made elsewhere a moment ago still holds."""
    other = await open_store(store_url, clock=clock)
    try:
        await add(store, new(queue="held"), new(queue="held"))
        assert len(await claim(store, limit=1)) == 1  # this store has read the pauses: none
        await other.queue_control.pause("held", until=None)
        assert await claim(store, limit=1) == []
        assert await claim(store, limit=1, queues=["held"]) == []
        assert await claim(store, limit=1, types=["echo"]) == []
    finally:
        await other.close()
