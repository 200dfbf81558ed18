"""Store contract, ``Expiry``: a lease that ran out gives its job another attempt (the lost one
recorded), or makes it dead (``worker_lost``) on its last; leases still held are left alone."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.job import DeadReason, Outcome
from jobq.domain.states import JobState
from jobq.store import JobFilter, Store
from tests.contract.support import (
    LEASE,
    OWNER,
    add,
    claim,
    claim_one,
    new,
)


async def test_unexpired_leases_are_left_alone(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    clock.advance(LEASE - 0.001)
    assert await store.expiry.requeue_expired() == []
    assert (await store.reads.get(job.id)).status is JobState.RUNNING  # type: ignore[union-attr]


async def test_expired_lease_requeues_with_the_attempt_used(store: Store, clock: FakeClock) -> None:
    await add(store, new(max_attempts=3))
    job = await claim_one(store)
    clock.advance(LEASE + 1)
    [expired] = await store.expiry.requeue_expired()
    assert (expired.job_id, expired.owner, expired.attempt) == (job.id, OWNER, 1)
    requeued = await store.reads.get(job.id)
    assert requeued is not None
    assert requeued.status is JobState.PENDING and requeued.attempt == 1
    assert requeued.worker_id is None and requeued.lease_expires_at is None
    assert requeued.run_at == job.run_at  # it keeps its place in line: it was due already
    assert requeued.last_error is not None and requeued.last_error.type == "WorkerLost"
    [lost] = await store.reads.attempts(job.id)
    assert lost.outcome is Outcome.LOST and lost.worker_id == OWNER and lost.attempt == 1


async def test_expired_lease_on_the_last_attempt_is_dead_worker_lost(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(max_attempts=2))
    for _ in range(2):
        await claim_one(store)
        clock.advance(LEASE + 1)
        await store.expiry.requeue_expired()
    [job] = (await store.reads.list_jobs(JobFilter(), limit=1)).jobs
    assert job.status is JobState.DEAD
    assert job.dead_reason is DeadReason.WORKER_LOST
    assert job.attempt == 2 and job.finished_at == clock.now()
    assert [a.outcome for a in await store.reads.attempts(job.id)] == [Outcome.LOST, Outcome.LOST]
    assert await claim(store, OWNER, limit=1) == []
