"""The checker itself, on made-up ledgers and a real (SQLite) store: each figure counts what it
says, so a fault test that reports 0 could have reported more."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from jobq.clock import FakeClock
from jobq.domain.ids import PoolId
from jobq.domain.job import Job
from jobq.store import Store, open_store
from tests.contract.support import claim, complete, new
from tests.faults.checker import Kill, Pause, check, percentile

Z = "host:100:aaaaaa"  # worker pool ids: host:pid:suffix
W = "host:200:bbbbbb"


@pytest.fixture
async def sqlite_store(db_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(db_url, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


def rec(kind: str, job: Job, attempt: int, pid: int, t: float) -> dict[str, Any]:
    return {"kind": kind, "job_id": job.id, "attempt": attempt, "pid": pid, "t": t}


async def run_once(store: Store, owner: str, *, succeed: bool = True) -> Job:
    [job] = await claim(store, PoolId(owner), limit=1, lease=5)
    if succeed:
        assert await complete(
            store, job.lease, {"ok": 1}, slot=job.lease.owner, started_at=job.run_at
        )
    return job


async def test_a_clean_run_counts_nothing(sqlite_store: Store) -> None:
    [made] = await sqlite_store.enqueuer.enqueue([new("ledger.sleep")])
    job = await run_once(sqlite_store, W)
    ledger = [rec("start", job, 1, 200, 1.0), rec("end", job, 1, 200, 2.0)]
    verdict = await check(sqlite_store, ledger, accepted=[made.job.id])
    figures = verdict.figures
    assert figures["statuses"] == {"succeeded": 1}
    for key in ("lost", "stuck", "completed_twice", "dup_exec", "double_claim", "orphans"):
        assert figures[key] == 0, key


async def test_lost_stuck_and_vanished_jobs_are_counted(sqlite_store: Store) -> None:
    [ran, waiting] = await sqlite_store.enqueuer.enqueue([new("ledger.sleep"), new("x")])
    await run_once(sqlite_store, W)  # succeeded, but the ledger has no end: lost work
    verdict = await check(sqlite_store, [], accepted=[ran.job.id, waiting.job.id, "vanished"])
    assert verdict.ids["lost"] == {ran.job.id, "vanished"}
    assert verdict.ids["stuck"] == {waiting.job.id}


async def test_overlapping_runs_are_double_claims_unless_one_was_stopped(
    sqlite_store: Store, clock: FakeClock
) -> None:
    [made] = await sqlite_store.enqueuer.enqueue([new("ledger.sleep")])
    first = await run_once(sqlite_store, Z, succeed=False)
    clock.advance(10)
    assert await sqlite_store.expiry.requeue_expired()
    again = await run_once(sqlite_store, W)
    assert again.attempt == 2 and first.attempt == 1
    ledger = [
        rec("start", first, 1, 100, 1.0),
        rec("start", again, 2, 200, 5.0),
        rec("end", again, 2, 200, 8.0),
        rec("end", first, 1, 100, 10.0),  # the zombie ends late
    ]
    overlapping = await check(sqlite_store, ledger, accepted=[made.job.id])
    assert overlapping.figures["double_claim"] == 1
    assert overlapping.figures["dup_exec"] == 1
    assert overlapping.figures["dup_exec_causes"] == {"lost": 1}
    assert overlapping.figures["completed_twice"] == 0  # the zombie's end is of a lost attempt
    stopped = await check(
        sqlite_store, ledger, accepted=[made.job.id], pauses=[Pause(100, 2.0, 9.0)]
    )
    assert stopped.figures["double_claim"] == 0
    killed = await check(sqlite_store, ledger[:3], accepted=[made.job.id], kills=[Kill(100, 3.0)])
    assert killed.figures["double_claim"] == 0
    assert killed.figures["orphans"] == 1
    assert killed.recovery == {(made.job.id, 1): 2.0}  # killed at 3.0, started again at 5.0
    assert set(killed.reclaim) == {(made.job.id, 1)}  # claimed again (attempt 2)
    running = await check(sqlite_store, ledger[:3], accepted=[made.job.id])
    assert running.figures["double_claim"] == 1, "no end, no kill: it may still be running"


async def test_two_successes_are_completed_twice(sqlite_store: Store) -> None:
    [made] = await sqlite_store.enqueuer.enqueue([new("ledger.sleep")])
    job = await run_once(sqlite_store, W)
    ledger = [
        rec("start", job, 1, 200, 1.0),
        rec("end", job, 1, 200, 2.0),
        rec("start", job, 1, 200, 3.0),
        rec("end", job, 1, 200, 4.0),
    ]
    verdict = await check(sqlite_store, ledger, accepted=[made.job.id])
    assert verdict.figures["completed_twice"] == 1


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 99) == 99.0
