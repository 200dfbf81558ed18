"""Store contract: progress reported under a lease; the pools that report themselves; attempts
per minute; how long the oldest due job has waited."""

from __future__ import annotations

from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.ids import WorkerId
from jobq.domain.job import MinuteCount, Outcome, ProcessInfo
from jobq.store import Store
from tests.contract.support import OTHER, OWNER, add, boom, claim_one, later, new


async def test_progress_is_stored_for_the_lease_that_owns_the_job(
    store: Store, clock: FakeClock
) -> None:
    [job] = await add(store, new())
    lease = (await claim_one(store)).lease
    assert await store.progress(lease, 0.25, "a quarter")
    stored = await store.get(job.id)
    assert stored is not None
    assert (stored.progress, stored.progress_message) == (0.25, "a quarter")
    assert await store.progress(lease, 0.5, None)
    stored = await store.get(job.id)
    assert stored is not None and (stored.progress, stored.progress_message) == (0.5, None)


async def test_progress_from_a_lost_lease_is_refused(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new(max_attempts=3))
    stale = (await claim_one(store, lease=10)).lease
    assert await store.progress(stale, 0.9, "old owner")
    clock.advance(11)
    await store.requeue_expired()
    fresh = (await claim_one(store, OTHER)).lease
    assert not await store.progress(stale, 1.0, "late")
    stored = await store.get(job.id)
    # a new attempt starts with no progress; the stale write changed nothing
    assert stored is not None and (stored.progress, stored.progress_message) == (None, None)
    assert await store.progress(fresh, 0.1, "new owner")


async def test_progress_stays_after_the_attempt_ends(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new())
    lease = (await claim_one(store)).lease
    await store.progress(lease, 1.0, "done")
    await store.complete(lease, None, worker_id=OWNER, started_at=clock.now())
    stored = await store.get(job.id)
    assert stored is not None and (stored.progress, stored.progress_message) == (1.0, "done")
    assert not await store.progress(lease, 0.5, "after the end")


def process(clock: FakeClock, owner: WorkerId = OWNER, **fields: object) -> ProcessInfo:
    values: dict[str, object] = {
        "id": owner,
        "host": "host",
        "pid": 1,
        "workers": 10,
        "busy": 0,
        "buffered": 0,
        "queues": None,
        "started_at": clock.now(),
        "seen_at": clock.now(),
    }
    values.update(fields)
    return ProcessInfo(**values)  # type: ignore[arg-type]


async def test_pools_that_report_themselves_are_listed_until_they_go_quiet(
    store: Store, clock: FakeClock
) -> None:
    started = clock.now()
    await store.report_process(process(clock, busy=3, buffered=2, queues=("mail", "reports")))
    await store.report_process(process(clock, OTHER, pid=2, workers=4))
    clock.advance(5)
    await store.report_process(process(clock, busy=7, started_at=started))  # a refresh
    listed = await store.processes(max_age=30)
    assert [(p.id, p.workers, p.busy, p.buffered, p.queues) for p in listed] == [
        (OWNER, 10, 7, 0, None),
        (OTHER, 4, 0, 0, None),
    ]
    mine = listed[0]
    assert (mine.started_at, mine.seen_at) == (started, clock.now())
    # OTHER last reported 5 s ago: a 3 s window leaves it out
    assert [p.id for p in await store.processes(max_age=3)] == [OWNER]
    await store.forget_process(OWNER)
    assert [p.id for p in await store.processes(max_age=30)] == [OTHER]


async def test_a_pool_silent_for_an_hour_is_forgotten(store: Store, clock: FakeClock) -> None:
    await store.report_process(process(clock, OTHER, pid=2))
    clock.advance(3601)
    await store.report_process(process(clock))  # any report prunes
    assert [p.id for p in await store.processes(max_age=10**6)] == [OWNER]


async def test_queues_of_a_pool_round_trip(store: Store, clock: FakeClock) -> None:
    await store.report_process(process(clock, queues=("a", "b")))
    [listed] = await store.processes(max_age=60)
    assert listed.queues == ("a", "b")


async def test_throughput_counts_attempts_per_minute_by_outcome(
    store: Store, clock: FakeClock
) -> None:
    clock.advance(-clock.now().second - clock.now().microsecond / 1e6)  # the start of a minute
    first_minute = clock.now()
    await add(store, *(new(max_attempts=2) for _ in range(3)))
    one, two, three = [await claim_one(store) for _ in range(3)]
    clock.advance(10)
    await store.complete(one.lease, None, worker_id=OWNER, started_at=clock.now())
    await store.fail(
        two.lease, boom(), worker_id=OWNER, started_at=clock.now(), retry_at=clock.now()
    )
    clock.advance(60)  # the next minute
    await store.complete(three.lease, None, worker_id=OWNER, started_at=clock.now())
    again = await claim_one(store)
    await store.complete(again.lease, None, worker_id=OWNER, started_at=clock.now())
    second_minute = first_minute + timedelta(minutes=1)
    assert await store.throughput(minutes=60) == [
        MinuteCount(first_minute, Outcome.FAILED, 1),
        MinuteCount(first_minute, Outcome.SUCCEEDED, 1),
        MinuteCount(second_minute, Outcome.SUCCEEDED, 2),
    ]
    # only the current minute
    assert await store.throughput(minutes=1) == [MinuteCount(second_minute, Outcome.SUCCEEDED, 2)]
    clock.advance(3600)
    assert await store.throughput(minutes=60) == []


async def test_oldest_waiting_age_counts_from_when_the_job_fell_due(
    store: Store, clock: FakeClock
) -> None:
    assert await store.oldest_waiting_age() is None
    await add(store, new(run_at=later(clock, 30)))  # not due yet: not waiting
    assert await store.oldest_waiting_age() is None
    await add(store, new())
    clock.advance(40)
    assert await store.oldest_waiting_age() == 40  # the first job has waited 10 s
    await claim_one(store)
    assert await store.oldest_waiting_age() == 10
    await claim_one(store)
    assert await store.oldest_waiting_age() is None
