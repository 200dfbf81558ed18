"""Store contract: every write after a claim is fenced by the lease token (job id, worker id,
attempt); heartbeats extend leases; expired leases are requeued, or dead on the last attempt."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.job import DeadReason, Lease, Outcome
from jobq.domain.states import JobState
from jobq.store import JobFilter, Store
from tests.contract.support import LEASE, OTHER, OWNER, add, boom, claim_one, later, new


async def _expire_and_reclaim(store: Store, clock: FakeClock) -> tuple[Lease, Lease]:
    """The first owner's lease runs out; the reaper requeues the job; another worker claims it."""
    await add(store, new(max_attempts=5))
    stale = (await claim_one(store, OWNER)).lease
    clock.advance(LEASE + 1)
    [expired] = await store.requeue_expired()
    assert expired.job_id == stale.job_id and expired.status is JobState.PENDING
    fresh = (await claim_one(store, OTHER)).lease
    assert fresh.attempt == stale.attempt + 1
    return stale, fresh


async def test_stale_worker_cannot_complete(store: Store, clock: FakeClock) -> None:
    stale, fresh = await _expire_and_reclaim(store, clock)
    assert not await store.complete(
        stale, {"from": "stale"}, worker_id=OWNER, started_at=clock.now()
    )
    job = await store.get(stale.job_id)
    assert job is not None
    assert job.status is JobState.RUNNING and job.worker_id == OTHER and job.result is None
    assert await store.complete(fresh, {"from": "fresh"}, worker_id=OTHER, started_at=clock.now())
    done = await store.get(stale.job_id)
    assert done is not None and done.status is JobState.SUCCEEDED
    assert done.result == {"from": "fresh"}


async def test_stale_worker_cannot_fail_or_kill(store: Store, clock: FakeClock) -> None:
    stale, _ = await _expire_and_reclaim(store, clock)
    assert not await store.fail(
        stale, boom(), worker_id=OWNER, started_at=clock.now(), retry_at=later(clock, 1)
    )
    assert not await store.fail(
        stale,
        boom(),
        worker_id=OWNER,
        started_at=clock.now(),
        retry_at=None,
        dead_reason=DeadReason.NON_RETRYABLE,
    )
    job = await store.get(stale.job_id)
    assert job is not None and job.status is JobState.RUNNING and job.worker_id == OTHER


async def test_stale_worker_cannot_release_or_heartbeat(store: Store, clock: FakeClock) -> None:
    stale, fresh = await _expire_and_reclaim(store, clock)
    assert not await store.release(stale, worker_id=OWNER, started_at=clock.now())
    assert await store.release_unstarted([stale]) == set()
    assert await store.heartbeat([stale, fresh], lease_seconds=LEASE) == {fresh.job_id}
    job = await store.get(fresh.job_id)
    assert job is not None and job.attempt == fresh.attempt


async def test_a_finished_job_refuses_a_second_completion(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    lease = (await claim_one(store)).lease
    assert await store.complete(lease, 1, worker_id=OWNER, started_at=clock.now())
    assert not await store.complete(lease, 2, worker_id=OWNER, started_at=clock.now())
    assert not await store.fail(
        lease, boom(), worker_id=OWNER, started_at=clock.now(), retry_at=None
    )
    job = await store.get(lease.job_id)
    assert job is not None and job.result == 1
    assert [a.outcome for a in await store.attempts(lease.job_id)] == [Outcome.SUCCEEDED]


async def test_wrong_attempt_or_owner_is_refused(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    lease = (await claim_one(store)).lease
    for wrong in (
        Lease(lease.job_id, OTHER, lease.attempt),
        Lease(lease.job_id, OWNER, lease.attempt + 1),
    ):
        assert not await store.complete(wrong, None, worker_id=OWNER, started_at=clock.now())
    assert await store.complete(lease, None, worker_id=OWNER, started_at=clock.now())


async def test_heartbeat_extends_only_held_leases(store: Store, clock: FakeClock) -> None:
    await add(store, new(), new())
    one, two = await claim_one(store), await claim_one(store)
    clock.advance(LEASE - 1)
    assert await store.heartbeat([one.lease], lease_seconds=LEASE) == {one.id}
    clock.advance(2)  # `two` has now expired; `one` was extended
    expired = await store.requeue_expired()
    assert [e.job_id for e in expired] == [two.id]
    held = await store.get(one.id)
    assert held is not None and held.status is JobState.RUNNING
    assert held.lease_expires_at == later(clock, LEASE - 2)
    assert await store.heartbeat([], lease_seconds=LEASE) == set()


async def test_unexpired_leases_are_left_alone(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    clock.advance(LEASE - 0.001)
    assert await store.requeue_expired() == []
    assert (await store.get(job.id)).status is JobState.RUNNING  # type: ignore[union-attr]


async def test_expired_lease_requeues_with_the_attempt_used(store: Store, clock: FakeClock) -> None:
    await add(store, new(max_attempts=3))
    job = await claim_one(store)
    clock.advance(LEASE + 1)
    [expired] = await store.requeue_expired()
    assert (expired.job_id, expired.worker_id, expired.attempt) == (job.id, OWNER, 1)
    requeued = await store.get(job.id)
    assert requeued is not None
    assert requeued.status is JobState.PENDING and requeued.attempt == 1
    assert requeued.worker_id is None and requeued.lease_expires_at is None
    assert requeued.run_at == job.run_at  # it keeps its place in line: it was due already
    assert requeued.last_error is not None and requeued.last_error.type == "WorkerLost"
    [lost] = await store.attempts(job.id)
    assert lost.outcome is Outcome.LOST and lost.worker_id == OWNER and lost.attempt == 1


async def test_expired_lease_on_the_last_attempt_is_dead_worker_lost(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(max_attempts=2))
    for _ in range(2):
        await claim_one(store)
        clock.advance(LEASE + 1)
        await store.requeue_expired()
    [job] = (await store.list_jobs(JobFilter(), limit=1)).jobs
    assert job.status is JobState.DEAD
    assert job.dead_reason is DeadReason.WORKER_LOST
    assert job.attempt == 2 and job.finished_at == clock.now()
    assert [a.outcome for a in await store.attempts(job.id)] == [Outcome.LOST, Outcome.LOST]
    assert await store.claim(OWNER, queues=None, limit=1, lease_seconds=LEASE) == []
