"""Store contract, ``Outcomes``: what a success (acknowledged in batches), a failure and a hand-back
record; progress on the way; and the fence: every write after a claim changes the job only for
the lease (job id, pool, attempt) that owns it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import (
    InvalidJob,
)
from jobq.domain.job import DeadReason, Lease, Outcome
from jobq.domain.jsonvalues import dumps
from jobq.domain.states import JobState
from jobq.store import Store
from jobq.store.records import Completion
from tests.contract.support import (
    LEASE,
    OTHER,
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


async def _expire_and_reclaim(store: Store, clock: FakeClock) -> tuple[Lease, Lease]:
    """The first owner's lease runs out; the reaper requeues the job; another worker claims it."""
    await add(store, new(max_attempts=5))
    stale = (await claim_one(store, OWNER)).lease
    clock.advance(LEASE + 1)
    [expired] = await store.expiry.requeue_expired()
    assert expired.job_id == stale.job_id and expired.status is JobState.PENDING
    fresh = (await claim_one(store, OTHER)).lease
    assert fresh.attempt == stale.attempt + 1
    return stale, fresh


async def test_every_owned_job_is_completed_with_its_result_and_attempt(
    store: Store, clock: FakeClock
) -> None:
    await add(store, *(new(payload={"n": n}) for n in range(5)))
    jobs = await claim(store, OWNER, limit=5)
    started = clock.now()
    clock.advance(1.5)
    acks = [
        Completion(job.lease, dumps({"n": n}, what="result"), WORKER, started)
        for n, job in enumerate(jobs)
    ]
    assert await store.outcomes.complete_many(acks) == {job.id for job in jobs}
    for n, job in enumerate(jobs):
        done = await store.reads.get(job.id)
        assert done is not None and done.status is JobState.SUCCEEDED
        assert done.result == {"n": n}
        assert (done.started_at, done.finished_at) == (started, clock.now())
        assert done.lease_expires_at is None
        [attempt] = await store.reads.attempts(job.id)
        assert attempt.outcome is Outcome.SUCCEEDED and attempt.worker_id == WORKER
        assert (attempt.started_at, attempt.finished_at) == (started, clock.now())


async def test_lost_leases_are_left_alone_and_the_rest_written(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(max_attempts=5), new())
    stale_job = await claim_one(store, OWNER, lease=1)
    kept = await claim_one(store, OWNER)
    clock.advance(2)  # the first lease runs out; another worker has it now
    await store.expiry.requeue_expired()
    fresh = await claim_one(store, OTHER)
    assert fresh.id == stale_job.id
    acks = [
        Completion(stale_job.lease, "1", WORKER, clock.now()),
        Completion(kept.lease, "2", WORKER, clock.now()),
    ]
    assert await store.outcomes.complete_many(acks) == {kept.id}
    other = await store.reads.get(fresh.id)
    assert other is not None and other.status is JobState.RUNNING and other.worker_id == OTHER
    attempts = await store.reads.attempts(fresh.id)
    assert len(attempts) == 2 and Outcome.SUCCEEDED not in {a.outcome for a in attempts}
    assert (await store.reads.get(kept.id)).result == 2  # type: ignore[union-attr]


async def test_a_repeated_acknowledgement_changes_nothing(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    ack = Completion(job.lease, '"first"', WORKER, clock.now())
    assert await store.outcomes.complete_many([ack]) == {job.id}
    again = Completion(job.lease, '"second"', WORKER, clock.now())
    assert await store.outcomes.complete_many([again]) == set()
    done = await store.reads.get(job.id)
    assert done is not None and done.result == "first"
    assert len(await store.reads.attempts(job.id)) == 1


async def test_a_job_acknowledged_twice_in_one_batch_ends_once_as_the_first_says(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(), new())
    first, second = await claim(store, OWNER, limit=2)
    acks = [
        Completion(first.lease, '"first"', WORKER, clock.now()),
        Completion(second.lease, '{"n": [1, "two"]}', WORKER, clock.now()),
        Completion(first.lease, '"again"', WORKER, clock.now()),
    ]
    assert await store.outcomes.complete_many(acks) == {first.id, second.id}
    done = await store.reads.get(first.id)
    assert done is not None and done.result == "first"
    assert len(await store.reads.attempts(first.id)) == 1
    assert (await store.reads.get(second.id)).result == {"n": [1, "two"]}  # type: ignore[union-attr]


async def test_a_stale_ack_beside_the_current_one_does_not_hide_it(
    store: Store, clock: FakeClock
) -> None:
    """One batch acknowledges a job under an old lease (its run lost it) and under the current
    one: the current one's success is written."""
    stale, fresh = await _expire_and_reclaim(store, clock)
    acks = [
        Completion(stale, '"stale"', WORKER, clock.now()),
        Completion(fresh, '"fresh"', WORKER, clock.now()),
    ]
    assert await store.outcomes.complete_many(acks) == {fresh.job_id}
    done = await store.reads.get(fresh.job_id)
    assert done is not None and done.status is JobState.SUCCEEDED and done.result == "fresh"


async def test_nothing_to_acknowledge(store: Store) -> None:
    assert await store.outcomes.complete_many([]) == set()


async def test_complete_records_result_and_the_attempt(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    clock.advance(0.5)
    started = clock.now()
    clock.advance(2)
    assert await complete(store, job.lease, {"ok": True}, slot=WORKER, started_at=started)
    done = await store.reads.get(job.id)
    assert done is not None
    assert done.status is JobState.SUCCEEDED and done.result == {"ok": True}
    assert done.started_at == started and done.finished_at == clock.now()
    assert done.lease_expires_at is None and done.worker_id == OWNER
    [attempt] = await store.reads.attempts(job.id)
    assert attempt.outcome is Outcome.SUCCEEDED and attempt.worker_id == WORKER
    assert (attempt.started_at, attempt.finished_at) == (started, clock.now())
    assert attempt.error is None


async def test_unserialisable_result_is_refused_and_the_job_stays_running(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    with pytest.raises(InvalidJob, match="result"):
        await complete(store, job.lease, {"x": {1, 2}}, slot=WORKER, started_at=clock.now())
    assert (await store.reads.get(job.id)).status is JobState.RUNNING  # type: ignore[union-attr]


async def test_fail_with_retry_records_the_error_and_the_due_time(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    retry_at = later(clock, 8)
    assert await fail(
        store, job.lease, boom("first"), slot=WORKER, started_at=clock.now(), retry_at=retry_at
    )
    failed = await store.reads.get(job.id)
    assert failed is not None
    assert failed.status is JobState.FAILED and failed.run_at == retry_at
    assert failed.last_error is not None and failed.last_error.message == "first"
    assert failed.dead_reason is None and failed.finished_at is None
    [attempt] = await store.reads.attempts(job.id)
    assert attempt.outcome is Outcome.FAILED
    assert attempt.error is not None and attempt.error.traceback == "Traceback ..."


async def test_fail_without_retry_is_dead_with_its_reason(store: Store, clock: FakeClock) -> None:
    await add(store, new(), new())
    for reason in (None, DeadReason.NON_RETRYABLE):
        job = await claim_one(store)
        assert await fail(
            store,
            job.lease,
            boom(),
            slot=WORKER,
            started_at=clock.now(),
            retry_at=None,
            dead_reason=reason,
        )
        dead = await store.reads.get(job.id)
        assert dead is not None and dead.status is JobState.DEAD
        assert dead.dead_reason is (reason or DeadReason.ATTEMPTS_EXHAUSTED)
        assert dead.finished_at == clock.now()


async def test_release_of_a_started_job_records_it_as_interrupted(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    assert await store.outcomes.release(job.lease, slot=WORKER, started_at=clock.now())
    back = await store.reads.get(job.id)
    assert back is not None and back.status is JobState.PENDING and back.attempt == 0
    [attempt] = await store.reads.attempts(job.id)
    assert attempt.outcome is Outcome.INTERRUPTED and attempt.worker_id == WORKER


async def test_times_keep_microseconds(store: Store, clock: FakeClock) -> None:
    clock.advance(0.000123)
    [job] = await add(store, new(run_at=clock.now() + timedelta(microseconds=7)))
    stored = await store.reads.get(job.id)
    assert stored is not None
    assert stored.created_at == clock.now()
    assert stored.run_at == clock.now() + timedelta(microseconds=7)


async def test_stale_worker_cannot_complete(store: Store, clock: FakeClock) -> None:
    stale, fresh = await _expire_and_reclaim(store, clock)
    assert not await complete(store, stale, {"from": "stale"}, slot=OWNER, started_at=clock.now())
    job = await store.reads.get(stale.job_id)
    assert job is not None
    assert job.status is JobState.RUNNING and job.worker_id == OTHER and job.result is None
    assert await complete(store, fresh, {"from": "fresh"}, slot=OTHER, started_at=clock.now())
    done = await store.reads.get(stale.job_id)
    assert done is not None and done.status is JobState.SUCCEEDED
    assert done.result == {"from": "fresh"}


async def test_stale_worker_cannot_fail_or_kill(store: Store, clock: FakeClock) -> None:
    stale, _ = await _expire_and_reclaim(store, clock)
    assert not await fail(
        store, stale, boom(), slot=OWNER, started_at=clock.now(), retry_at=later(clock, 1)
    )
    assert not await fail(
        store,
        stale,
        boom(),
        slot=WORKER,
        started_at=clock.now(),
        retry_at=None,
        dead_reason=DeadReason.NON_RETRYABLE,
    )
    job = await store.reads.get(stale.job_id)
    assert job is not None and job.status is JobState.RUNNING and job.worker_id == OTHER


async def test_stale_worker_cannot_release_or_heartbeat(store: Store, clock: FakeClock) -> None:
    stale, fresh = await _expire_and_reclaim(store, clock)
    assert not await store.outcomes.release(stale, slot=OWNER, started_at=clock.now())
    assert await store.claims.release_unstarted([stale]) == set()
    assert await store.claims.heartbeat([stale, fresh], lease_seconds=LEASE) == {fresh.job_id}
    job = await store.reads.get(fresh.job_id)
    assert job is not None and job.attempt == fresh.attempt


async def test_a_finished_job_refuses_a_second_completion(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    lease = (await claim_one(store)).lease
    assert await complete(store, lease, 1, slot=OWNER, started_at=clock.now())
    assert not await complete(store, lease, 2, slot=OWNER, started_at=clock.now())
    assert not await fail(store, lease, boom(), slot=OWNER, started_at=clock.now(), retry_at=None)
    job = await store.reads.get(lease.job_id)
    assert job is not None and job.result == 1
    assert [a.outcome for a in await store.reads.attempts(lease.job_id)] == [Outcome.SUCCEEDED]


async def test_wrong_attempt_or_owner_is_refused(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    lease = (await claim_one(store)).lease
    for wrong in (
        Lease(lease.job_id, OTHER, lease.attempt),
        Lease(lease.job_id, OWNER, lease.attempt + 1),
    ):
        assert not await complete(store, wrong, None, slot=OWNER, started_at=clock.now())
    assert await complete(store, lease, None, slot=OWNER, started_at=clock.now())


async def test_progress_is_stored_for_the_lease_that_owns_the_job(
    store: Store, clock: FakeClock
) -> None:
    [job] = await add(store, new())
    lease = (await claim_one(store)).lease
    assert await store.outcomes.progress(lease, 0.25, "a quarter")
    stored = await store.reads.get(job.id)
    assert stored is not None
    assert (stored.progress, stored.progress_message) == (0.25, "a quarter")
    assert await store.outcomes.progress(lease, 0.5, None)
    stored = await store.reads.get(job.id)
    assert stored is not None and (stored.progress, stored.progress_message) == (0.5, None)


async def test_progress_from_a_lost_lease_is_refused(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new(max_attempts=3))
    stale = (await claim_one(store, lease=10)).lease
    assert await store.outcomes.progress(stale, 0.9, "old owner")
    clock.advance(11)
    await store.expiry.requeue_expired()
    fresh = (await claim_one(store, OTHER)).lease
    assert not await store.outcomes.progress(stale, 1.0, "late")
    stored = await store.reads.get(job.id)
    # a new attempt starts with no progress; the stale write changed nothing
    assert stored is not None and (stored.progress, stored.progress_message) == (None, None)
    assert await store.outcomes.progress(fresh, 0.1, "new owner")


async def test_progress_stays_after_the_attempt_ends(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new())
    lease = (await claim_one(store)).lease
    await store.outcomes.progress(lease, 1.0, "done")
    await complete(store, lease, None, slot=OWNER, started_at=clock.now())
    stored = await store.reads.get(job.id)
    assert stored is not None and (stored.progress, stored.progress_message) == (1.0, "done")
    assert not await store.outcomes.progress(lease, 0.5, "after the end")
