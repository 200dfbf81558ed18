"""Store contract: what complete, fail and release record, and the operator's cancel and retry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import IllegalTransition, InvalidJob, JobNotFound
from jobq.domain.ids import JobId
from jobq.domain.job import DeadReason, Lease, Outcome
from jobq.domain.states import JobState
from jobq.store import Store
from tests.contract.support import LEASE, OWNER, add, boom, claim_one, later, new

WORKER = OWNER + "/w3"
UNKNOWN = JobId("01900000-0000-7000-8000-000000000000")


async def test_complete_records_result_and_the_attempt(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    clock.advance(0.5)
    started = clock.now()
    clock.advance(2)
    assert await store.complete(job.lease, {"ok": True}, worker_id=WORKER, started_at=started)
    done = await store.get(job.id)
    assert done is not None
    assert done.status is JobState.SUCCEEDED and done.result == {"ok": True}
    assert done.started_at == started and done.finished_at == clock.now()
    assert done.lease_expires_at is None and done.worker_id == OWNER
    [attempt] = await store.attempts(job.id)
    assert attempt.outcome is Outcome.SUCCEEDED and attempt.worker_id == WORKER
    assert (attempt.started_at, attempt.finished_at) == (started, clock.now())
    assert attempt.error is None


async def test_unserialisable_result_is_refused_and_the_job_stays_running(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    with pytest.raises(InvalidJob, match="result"):
        await store.complete(job.lease, {"x": {1, 2}}, worker_id=WORKER, started_at=clock.now())
    assert (await store.get(job.id)).status is JobState.RUNNING  # type: ignore[union-attr]


async def test_fail_with_retry_records_the_error_and_the_due_time(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    retry_at = later(clock, 8)
    assert await store.fail(
        job.lease, boom("first"), worker_id=WORKER, started_at=clock.now(), retry_at=retry_at
    )
    failed = await store.get(job.id)
    assert failed is not None
    assert failed.status is JobState.FAILED and failed.run_at == retry_at
    assert failed.last_error is not None and failed.last_error.message == "first"
    assert failed.dead_reason is None and failed.finished_at is None
    [attempt] = await store.attempts(job.id)
    assert attempt.outcome is Outcome.FAILED
    assert attempt.error is not None and attempt.error.traceback == "Traceback ..."


async def test_fail_without_retry_is_dead_with_its_reason(store: Store, clock: FakeClock) -> None:
    await add(store, new(), new())
    for reason in (None, DeadReason.NON_RETRYABLE):
        job = await claim_one(store)
        assert await store.fail(
            job.lease,
            boom(),
            worker_id=WORKER,
            started_at=clock.now(),
            retry_at=None,
            dead_reason=reason,
        )
        dead = await store.get(job.id)
        assert dead is not None and dead.status is JobState.DEAD
        assert dead.dead_reason is (reason or DeadReason.ATTEMPTS_EXHAUSTED)
        assert dead.finished_at == clock.now()


async def test_release_of_an_unstarted_job_gives_the_attempt_back(
    store: Store, clock: FakeClock
) -> None:
    [queued] = await add(store, new())
    job = await claim_one(store)
    assert await store.release_unstarted([job.lease]) == {job.id}
    back = await store.get(job.id)
    assert back is not None
    assert back.status is JobState.PENDING and back.attempt == 0
    assert back.worker_id is None and back.lease_expires_at is None
    assert back.run_at == queued.run_at
    assert await store.attempts(job.id) == []
    assert (await claim_one(store)).attempt == 1


async def test_release_of_a_started_job_records_it_as_interrupted(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new())
    job = await claim_one(store)
    assert await store.release(job.lease, worker_id=WORKER, started_at=clock.now())
    back = await store.get(job.id)
    assert back is not None and back.status is JobState.PENDING and back.attempt == 0
    [attempt] = await store.attempts(job.id)
    assert attempt.outcome is Outcome.INTERRUPTED and attempt.worker_id == WORKER


async def test_attempts_include_the_running_one(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    first = await claim_one(store)
    await store.fail(
        first.lease, boom(), worker_id=WORKER, started_at=clock.now(), retry_at=clock.now()
    )
    second = await claim_one(store)
    attempts = await store.attempts(second.id)
    assert [(a.attempt, a.outcome) for a in attempts] == [(1, Outcome.FAILED), (2, None)]
    assert attempts[1].worker_id == OWNER and attempts[1].finished_at is None


@pytest.mark.parametrize("state", ["pending", "failed"])
async def test_cancel_pending_or_failed(store: Store, clock: FakeClock, state: str) -> None:
    [job] = await add(store, new())
    if state == "failed":
        claimed = await claim_one(store)
        await store.fail(
            claimed.lease,
            boom(),
            worker_id=WORKER,
            started_at=clock.now(),
            retry_at=later(clock, 60),
        )
    cancelled = await store.cancel(job.id)
    assert cancelled.status is JobState.CANCELLED and cancelled.finished_at == clock.now()
    clock.advance(120)
    assert await store.claim(OWNER, queues=None, limit=1, lease_seconds=LEASE) == []


async def test_cancel_refuses_running_and_finished_jobs(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    with pytest.raises(IllegalTransition) as refused:
        await store.cancel(job.id)
    assert refused.value.state == "running"
    await store.complete(job.lease, None, worker_id=WORKER, started_at=clock.now())
    with pytest.raises(IllegalTransition, match="succeeded"):
        await store.cancel(job.id)
    with pytest.raises(JobNotFound):
        await store.cancel(UNKNOWN)


async def test_retry_gives_a_dead_job_one_more_attempt(store: Store, clock: FakeClock) -> None:
    await add(store, new(max_attempts=1))
    job = await claim_one(store)
    await store.fail(job.lease, boom(), worker_id=WORKER, started_at=clock.now(), retry_at=None)
    clock.advance(10)
    retried = await store.retry(job.id)
    assert retried.status is JobState.PENDING and retried.run_at == clock.now()
    assert retried.max_attempts == 2 and retried.attempt == 1
    assert retried.dead_reason is None and retried.finished_at is None
    again = await claim_one(store)
    assert again.attempt == 2


async def test_retry_of_a_cancelled_job_keeps_its_attempts(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new(max_attempts=4))
    await store.cancel(job.id)
    retried = await store.retry(job.id)
    assert retried.status is JobState.PENDING and retried.max_attempts == 4


async def test_retry_refuses_jobs_that_are_not_dead_or_cancelled(store: Store) -> None:
    [job] = await add(store, new())
    with pytest.raises(IllegalTransition, match="pending"):
        await store.retry(job.id)
    with pytest.raises(JobNotFound):
        await store.retry(UNKNOWN)


async def test_times_keep_microseconds(store: Store, clock: FakeClock) -> None:
    clock.advance(0.000123)
    [job] = await add(store, new(run_at=clock.now() + timedelta(microseconds=7)))
    stored = await store.get(job.id)
    assert stored is not None
    assert stored.created_at == clock.now()
    assert stored.run_at == clock.now() + timedelta(microseconds=7)


async def test_release_unstarted_hands_back_only_what_the_leases_hold(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(), new(), new())
    a, b, c = await claim_one(store), await claim_one(store), await claim_one(store)
    await store.complete(c.lease, None, worker_id=WORKER, started_at=clock.now())
    stale = Lease(b.id, OWNER, b.attempt + 1)
    released = await store.release_unstarted([a.lease, stale, c.lease])
    assert released == {a.id}
    back = await store.get(a.id)
    assert back is not None and back.status is JobState.PENDING and back.attempt == 0
    assert back.started_at is None and back.worker_id is None
    assert (await store.get(b.id)).status is JobState.RUNNING  # type: ignore[union-attr]
    assert await store.attempts(a.id) == []
    assert await store.release_unstarted([]) == set()
