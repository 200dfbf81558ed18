"""Store contract, ``Reads``: one job, its attempts, pages of jobs, counts, attempts ended per
minute, and how long the oldest due job has waited."""

from __future__ import annotations

from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.job import MinuteCount, Outcome
from jobq.domain.states import JobState
from jobq.store import JobFilter, Page, Store
from tests.contract.support import OWNER, WORKER, add, boom, claim_one, complete, fail, later, new


async def test_get_unknown_id_is_none(store: Store) -> None:
    assert await store.reads.get("01900000-0000-7000-8000-000000000000") is None  # type: ignore[arg-type]


async def test_attempts_include_the_running_one(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    first = await claim_one(store)
    await fail(
        store, first.lease, boom(), slot=WORKER, started_at=clock.now(), retry_at=clock.now()
    )
    second = await claim_one(store)
    attempts = await store.reads.attempts(second.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.FAILED), (2, None)]
    assert attempts[1].worker_id == OWNER and attempts[1].finished_at is None


async def test_list_filters_and_pages_newest_first(store: Store) -> None:
    jobs = await add(store, *(new("a" if i % 2 else "b", queue=f"q{i % 3}") for i in range(25)))
    seen, after = [], None
    while True:
        page = await store.reads.list_jobs(JobFilter(), limit=7, after=after)
        seen.extend(page.jobs)
        if page.next_after is None:
            break
        after = page.next_after
    assert [j.id for j in seen] == [j.id for j in reversed(jobs)]

    only_a = await store.reads.list_jobs(JobFilter(type="a"), limit=100)
    assert {j.id for j in only_a.jobs} == {j.id for j in jobs if j.type == "a"}
    q1 = await store.reads.list_jobs(JobFilter(queue="q1"), limit=100)
    assert {j.id for j in q1.jobs} == {j.id for j in jobs if j.queue == "q1"}
    none_running = await store.reads.list_jobs(JobFilter(status=JobState.RUNNING), limit=100)
    assert none_running.jobs == [] and none_running.next_after is None


async def test_a_full_last_page_says_there_is_no_next(store: Store) -> None:
    await add(store, *(new() for _ in range(4)))
    page = await store.reads.list_jobs(JobFilter(), limit=4)
    assert len(page.jobs) == 4 and page.next_after is None


async def test_a_filter_no_name_can_match_finds_nothing(store: Store) -> None:
    await add(store, new())
    for where in (JobFilter(type="echo\x00"), JobFilter(queue="default\x00x")):
        assert await store.reads.list_jobs(where, limit=10) == Page([], None)


async def test_counts_by_queue_and_status(store: Store) -> None:
    await add(store, new(queue="a"), new(queue="a"), new(queue="b"))
    [cancel_me] = await add(store, new(queue="b"))
    await store.admin.cancel(cancel_me.id)
    counts = {(c.queue, c.status): c.count for c in await store.reads.counts()}
    assert counts == {
        ("a", JobState.PENDING): 2,
        ("b", JobState.PENDING): 1,
        ("b", JobState.CANCELLED): 1,
    }


async def test_throughput_counts_attempts_per_minute_by_outcome(
    store: Store, clock: FakeClock
) -> None:
    clock.advance(-clock.now().second - clock.now().microsecond / 1e6)  # the start of a minute
    first_minute = clock.now()
    await add(store, *(new(max_attempts=2) for _ in range(3)))
    one, two, three = [await claim_one(store) for _ in range(3)]
    clock.advance(10)
    await complete(store, one.lease, None, slot=OWNER, started_at=clock.now())
    await fail(store, two.lease, boom(), slot=OWNER, started_at=clock.now(), retry_at=clock.now())
    clock.advance(60)  # the next minute
    await complete(store, three.lease, None, slot=OWNER, started_at=clock.now())
    again = await claim_one(store)
    await complete(store, again.lease, None, slot=OWNER, started_at=clock.now())
    second_minute = first_minute + timedelta(minutes=1)
    assert await store.reads.throughput(minutes=60) == [
        MinuteCount(first_minute, Outcome.FAILED, 1),
        MinuteCount(first_minute, Outcome.SUCCEEDED, 1),
        MinuteCount(second_minute, Outcome.SUCCEEDED, 2),
    ]
    # only the current minute
    assert await store.reads.throughput(minutes=1) == [
        MinuteCount(second_minute, Outcome.SUCCEEDED, 2)
    ]
    clock.advance(3600)
    assert await store.reads.throughput(minutes=60) == []


async def test_oldest_waiting_age_counts_from_when_the_job_fell_due(
    store: Store, clock: FakeClock
) -> None:
    assert await store.reads.oldest_waiting_age() is None
    await add(store, new(run_at=later(clock, 30)))  # not due yet: not waiting
    assert await store.reads.oldest_waiting_age() is None
    await add(store, new())
    clock.advance(40)
    assert await store.reads.oldest_waiting_age() == 40  # the first job has waited 10 s
    await claim_one(store)
    assert await store.reads.oldest_waiting_age() == 10
    await claim_one(store)
    assert await store.reads.oldest_waiting_age() is None


async def test_waiting_counts_due_jobs_by_queue_and_type(store: Store, clock: FakeClock) -> None:
    assert await store.reads.waiting() == []
    first = clock.now()
    await add(store, new("a"), new("a", queue="q"))
    clock.advance(10)
    await add(store, new("a"), new("b"), new("b", run_at=later(clock, 30)))  # one not due
    await claim_one(store)  # the oldest "a" of the default queue is running: not waiting
    rows = await store.reads.waiting()
    assert [(r.queue, r.type, r.count) for r in rows] == [
        ("default", "a", 1),
        ("default", "b", 1),
        ("q", "a", 1),
    ]
    assert [r.since for r in rows] == [clock.now(), clock.now(), first]
