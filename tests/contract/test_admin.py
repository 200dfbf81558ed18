"""Store contract, ``Admin``: an operator cancels a waiting job or retries an ended one; other
states refuse, saying why."""

from __future__ import annotations

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import (
    IllegalTransition,
    JobNotFound,
)
from jobq.domain.ids import JobId
from jobq.domain.states import JobState
from jobq.store import Store
from tests.contract.support import (
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

UNKNOWN = JobId("01900000-0000-7000-8000-000000000000")


@pytest.mark.parametrize("state", ["pending", "failed"])
async def test_cancel_pending_or_failed(store: Store, clock: FakeClock, state: str) -> None:
    [job] = await add(store, new())
    if state == "failed":
        claimed = await claim_one(store)
        await fail(
            store,
            claimed.lease,
            boom(),
            slot=WORKER,
            started_at=clock.now(),
            retry_at=later(clock, 60),
        )
    cancelled = await store.admin.cancel(job.id)
    assert cancelled.status is JobState.CANCELLED and cancelled.finished_at == clock.now()
    clock.advance(120)
    assert await claim(store, OWNER, limit=1) == []


async def test_cancel_refuses_running_and_finished_jobs(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    with pytest.raises(IllegalTransition) as refused:
        await store.admin.cancel(job.id)
    assert refused.value.state == "running"
    await complete(store, job.lease, None, slot=WORKER, started_at=clock.now())
    with pytest.raises(IllegalTransition, match="succeeded"):
        await store.admin.cancel(job.id)
    with pytest.raises(JobNotFound):
        await store.admin.cancel(UNKNOWN)


async def test_retry_gives_a_dead_job_one_more_attempt(store: Store, clock: FakeClock) -> None:
    await add(store, new(max_attempts=1))
    job = await claim_one(store)
    await fail(store, job.lease, boom(), slot=WORKER, started_at=clock.now(), retry_at=None)
    clock.advance(10)
    retried = await store.admin.retry(job.id)
    assert retried.status is JobState.PENDING and retried.run_at == clock.now()
    assert retried.max_attempts == 2 and retried.attempt == 1
    assert retried.dead_reason is None and retried.finished_at is None
    again = await claim_one(store)
    assert again.attempt == 2


async def test_retry_of_a_cancelled_job_keeps_its_attempts(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new(max_attempts=4))
    await store.admin.cancel(job.id)
    retried = await store.admin.retry(job.id)
    assert retried.status is JobState.PENDING and retried.max_attempts == 4


async def test_retry_refuses_jobs_that_are_not_dead_or_cancelled(store: Store) -> None:
    [job] = await add(store, new())
    with pytest.raises(IllegalTransition, match="pending"):
        await store.admin.retry(job.id)
    with pytest.raises(JobNotFound):
        await store.admin.retry(UNKNOWN)
