"""Store contract, ``LimitControl`` and limited claims: no claim takes more jobs of a type or a
queue than its concurrency limit lets run at once, or than its rate lets start in the current
window, counted per payload value where the limit says ``by``; jobs of other types and queues
are taken past a full one; the limit set at run time wins over the code's until cleared."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.limits import Limit, LimitOrigin, Limits, LimitScope, Rate
from jobq.store import Store, open_store
from jobq.store.claim import Claimed
from tests.contract.support import WORKER, add, claim, complete, later, new

TYPE, QUEUE = LimitScope.TYPE, LimitScope.QUEUE


def align(clock: FakeClock, per: int) -> None:
    """Move ``clock`` to the start of a window of ``per`` seconds."""
    into = clock.now().timestamp() % per
    if into:
        clock.advance(per - into)


async def finish(store: Store, jobs: list) -> None:  # type: ignore[type-arg]
    for job in jobs:
        assert await complete(store, job.lease, None, slot=WORKER, started_at=job.started_at)


async def test_a_type_at_its_limit_is_passed_over_and_others_are_taken(store: Store) -> None:
    # the limited type's jobs come first in claim order: a claim must pass over them
    await add(store, *(new("a", priority=9) for _ in range(5)), *(new("b") for _ in range(4)))
    held = await store.limit_control.set(TYPE, "a", Limits(Limit(2)))
    assert held.effective == Limits(Limit(2)) and held.origin is LimitOrigin.SET

    first = await claim(store, limit=10, types=["a", "b"])
    assert sorted(job.type for job in first) == ["a", "a", "b", "b", "b", "b"]
    assert isinstance(first, Claimed) and first.held_back
    assert await claim(store, types=["a", "b"]) == []
    assert await claim(store) == []  # a claim of any type keeps to it too

    await finish(store, [job for job in first if job.type == "a"][:1])
    assert [job.type for job in await claim(store, types=["a"])] == ["a"]
    assert await claim(store, types=["a"]) == []


async def test_a_queue_limit_counts_every_type_in_the_queue(store: Store) -> None:
    await add(store, *(new(t, queue="slow", priority=5) for t in "abab"), new("a"), new("b"))
    await store.limit_control.set(QUEUE, "slow", Limits(Limit(3)))
    taken = await claim(store, limit=10, types=["a", "b"])
    assert sorted(job.queue for job in taken) == ["default", "default", "slow", "slow", "slow"]
    assert await claim(store, queues=["slow"]) == []
    await finish(store, [job for job in taken if job.queue == "slow"][:2])
    assert [job.queue for job in await claim(store)] == ["slow"]
    running = await store.limit_control.running()
    assert sum(n for _, queue, n in running if queue == "slow") == 2
    assert sum(n for _, queue, n in running if queue == "default") == 2


async def test_a_limit_by_a_payload_field_counts_each_value_apart(store: Store) -> None:
    jobs = [new("a", payload={"customer": c}, priority=9) for c in "xxxxy"] + [
        new("a", payload={"customer": 7}),
        new("a", payload={"customer": "7"}),  # the same value as text
        new("a", payload={}),
        new("a", payload={"customer": None}),  # none: with the jobs that have no such field
    ]
    await add(store, *jobs)
    await store.limit_control.set(TYPE, "a", Limits(Limit(1, by="customer")))
    taken = await claim(store, limit=20, types=["a"])
    assert sorted(str(job.payload.get("customer")) for job in taken) == ["7", "None", "x", "y"]
    assert await claim(store, types=["a"]) == []
    [x] = [job for job in taken if job.payload.get("customer") == "x"]
    await finish(store, [x])
    assert [job.payload for job in await claim(store, types=["a"])] == [{"customer": "x"}]


async def test_a_rate_counts_starts_per_window(store: Store, clock: FakeClock) -> None:
    await add(store, *(new("a") for _ in range(8)), new("b"))
    await store.limit_control.set(TYPE, "a", Limits(rate=Rate(3, per=60)))
    align(clock, 60)  # the start of a window: the claims below share it
    first = await claim(store, limit=10)
    assert sorted(job.type for job in first) == ["a", "a", "a", "b"]
    await finish(store, first)  # a rate counts starts, not running jobs
    clock.advance(59)
    assert await claim(store) == []
    clock.advance(1)  # the next window
    assert len(await claim(store, limit=10)) == 3
    assert await claim(store) == []


async def test_a_rate_by_a_payload_field(store: Store, clock: FakeClock) -> None:
    await add(store, *(new("a", payload={"k": k}) for k in "xxxyyz"))
    await store.limit_control.set(TYPE, "a", Limits(rate=Rate(2, per=10, by="k")))
    align(clock, 10)
    taken = await claim(store, limit=10)
    assert sorted(job.payload["k"] for job in taken) == ["x", "x", "y", "y", "z"]
    clock.advance(10)
    assert [job.payload["k"] for job in await claim(store, limit=10)] == ["x"]


async def test_concurrency_and_rate_together_and_a_queue_limit_beside_a_type_limit(
    store: Store,
) -> None:
    await add(store, *(new("a", queue="q") for _ in range(6)))
    await store.limit_control.set(TYPE, "a", Limits(Limit(4), Rate(100, per=3600)))
    await store.limit_control.set(QUEUE, "q", Limits(Limit(2)))
    assert len(await claim(store, limit=10)) == 2  # the tighter of the two
    await store.limit_control.clear(QUEUE, "q")
    assert len(await claim(store, limit=10)) == 2  # now the type's: 4 in all


async def test_the_setting_wins_over_the_code_until_cleared(store: Store) -> None:
    await add(store, *(new("a") for _ in range(6)))
    control = store.limit_control
    await control.publish(["a", "b"], {"a": Limits(Limit(1))})
    [held] = await control.limits()
    assert (held.scope, held.name, held.origin) == (TYPE, "a", LimitOrigin.CODE)

    held = await control.set(TYPE, "a", Limits(Limit(3)))
    assert held.code == Limits(Limit(1)) and held.effective == Limits(Limit(3))
    assert len(await claim(store, limit=10)) == 3

    assert await control.clear(TYPE, "a") is True
    assert await control.clear(TYPE, "a") is False
    assert await claim(store, limit=10) == []  # the code's 1, and 3 run

    lifted = await control.set(TYPE, "a", Limits())  # no limit, whatever the code says
    assert lifted.origin is None and not lifted.effective
    assert len(await claim(store, limit=10)) == 3


async def test_publishing_drops_what_the_code_no_longer_declares(store: Store) -> None:
    control = store.limit_control
    await control.publish(["a", "b"], {"a": Limits(Limit(1)), "b": Limits(Limit(2))})
    await control.publish(["a"], {})  # this process: a has no limit now; b is not its type
    assert [(held.name, held.effective) for held in await control.limits()] == [
        ("b", Limits(Limit(2)))
    ]


async def test_a_limited_claim_keeps_to_pauses_and_to_its_queues(store: Store) -> None:
    await add(store, new("a", queue="held"), new("a", queue="other"), new("a", queue="mine"))
    await store.limit_control.set(TYPE, "a", Limits(Limit(5)))
    await store.queue_control.pause("held", until=None)
    assert [job.queue for job in await claim(store, queues=["mine", "held"])] == ["mine"]
    assert [job.queue for job in await claim(store, types=["a"])] == ["other"]


async def test_another_store_on_the_database_keeps_to_the_limits(
    store: Store, store_url: str, clock: FakeClock
) -> None:
    await add(store, *(new("a") for _ in range(4)))
    await store.limit_control.set(TYPE, "a", Limits(Limit(2)))
    other = await open_store(store_url, clock=clock)
    try:
        assert len(await claim(other, limit=10)) == 2
        assert await claim(store, limit=10) == []
    finally:
        await other.close()


async def test_a_claim_of_any_type_passes_a_full_type_by_name(store: Store) -> None:
    await add(store, *(new("a", priority=9) for _ in range(5)), *(new("b") for _ in range(3)))
    await store.limit_control.set(TYPE, "a", Limits(Limit(1)))
    assert sorted(job.type for job in await claim(store, limit=2)) == ["a", "b"]
    assert [job.type for job in await claim(store, limit=5)] == ["b", "b"]


async def test_a_queue_limit_of_a_queue_with_nothing_waiting_holds_when_jobs_come(
    store: Store,
) -> None:
    await store.limit_control.set(QUEUE, "slow", Limits(Limit(1)))
    await add(store, new("a"))
    assert [job.queue for job in await claim(store, types=["a"])] == ["default"]
    await add(store, *(new("a", queue="slow") for _ in range(3)))
    assert [job.queue for job in await claim(store, limit=10, types=["a"])] == ["slow"]
    assert await claim(store, limit=10, types=["a"]) == []


async def test_rounds_take_what_the_first_read_left_behind_a_full_type(store: Store) -> None:
    # a claim of 4: the first read holds 4 jobs of a (limit 1) ahead of b's; the next read
    # leaves a out and takes b's
    await add(store, *(new("a", priority=9) for _ in range(4)), *(new("b") for _ in range(4)))
    await store.limit_control.set(TYPE, "a", Limits(Limit(1)))
    taken = await claim(store, limit=4, types=["a", "b"])
    assert sorted(job.type for job in taken) == ["a", "b", "b", "b"]


async def test_a_type_limit_of_a_type_with_nothing_waiting_holds_when_jobs_come(
    store: Store,
) -> None:
    await store.limit_control.set(TYPE, "a", Limits(Limit(1)))
    await add(store, new("b"))
    assert [job.type for job in await claim(store, types=["a", "b"])] == ["b"]
    await add(store, *(new("a") for _ in range(3)))
    assert [job.type for job in await claim(store, limit=10, types=["a", "b"])] == ["a"]
    assert await claim(store, limit=10, types=["a", "b"]) == []


async def test_a_claim_reads_past_a_long_run_of_one_full_value(store: Store) -> None:
    # 50 jobs of customer x come first; a claim of 2 finds y's job behind them
    await add(store, *(new("a", payload={"c": "x"}, priority=9) for _ in range(50)))
    await add(store, new("a", payload={"c": "y"}))
    await store.limit_control.set(TYPE, "a", Limits(Limit(1, by="c")))
    taken = await claim(store, limit=2, types=["a"])
    assert sorted(job.payload["c"] for job in taken) == ["x", "y"]


async def test_a_claim_held_back_by_a_rate_says_when_its_window_ends(
    store: Store, clock: FakeClock
) -> None:
    await add(store, *(new("a") for _ in range(3)))
    await store.limit_control.set(TYPE, "a", Limits(Limit(10), Rate(2, per=60)))
    align(clock, 60)
    clock.advance(15)
    taken = await claim(store, limit=10)
    assert len(taken) == 2 and isinstance(taken, Claimed) and taken.held_back
    assert taken.room_at == later(clock, 45)
    held = await claim(store, limit=10)
    assert held == [] and isinstance(held, Claimed) and held.room_at == later(clock, 45)
