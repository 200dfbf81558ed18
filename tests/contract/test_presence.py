"""Store contract, ``Presence``: pools that report themselves are listed until they go quiet."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.ids import WorkerId
from jobq.domain.job import ProcessInfo
from jobq.store import Store
from tests.contract.support import (
    OTHER,
    OWNER,
)


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
    await store.presence.report(process(clock, busy=3, buffered=2, queues=("mail", "reports")))
    await store.presence.report(process(clock, OTHER, pid=2, workers=4))
    clock.advance(5)
    await store.presence.report(process(clock, busy=7, started_at=started))  # a refresh
    listed = await store.reads.processes(max_age=30)
    assert [(p.id, p.workers, p.busy, p.buffered, p.queues) for p in listed] == [
        (OWNER, 10, 7, 0, None),
        (OTHER, 4, 0, 0, None),
    ]
    mine = listed[0]
    assert (mine.started_at, mine.seen_at) == (started, clock.now())
    # OTHER last reported 5 s ago: a 3 s window leaves it out
    assert [p.id for p in await store.reads.processes(max_age=3)] == [OWNER]
    await store.presence.forget(OWNER)
    assert [p.id for p in await store.reads.processes(max_age=30)] == [OTHER]


async def test_a_pool_silent_for_an_hour_is_forgotten(store: Store, clock: FakeClock) -> None:
    await store.presence.report(process(clock, OTHER, pid=2))
    clock.advance(3601)
    await store.presence.report(process(clock))  # any report prunes
    assert [p.id for p in await store.reads.processes(max_age=10**6)] == [OWNER]


async def test_queues_of_a_pool_round_trip(store: Store, clock: FakeClock) -> None:
    await store.presence.report(process(clock, queues=("a", "b")))
    [listed] = await store.reads.processes(max_age=60)
    assert listed.queues == ("a", "b")


async def test_types_of_a_pool_round_trip(store: Store, clock: FakeClock) -> None:
    """A pool reports the job types it claims (schema 4); None: a pool that did not say."""
    await store.presence.report(process(clock, types=("echo", "video.encode")))
    await store.presence.report(process(clock, OTHER, pid=2))
    listed = {p.id: p for p in await store.reads.processes(max_age=60)}
    assert listed[OWNER].types == ("echo", "video.encode")
    assert listed[OTHER].types is None
    await store.presence.report(process(clock, types=("echo",)))  # a refresh replaces them
    [mine] = [p for p in await store.reads.processes(max_age=60) if p.id == OWNER]
    assert mine.types == ("echo",)
