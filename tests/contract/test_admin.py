"""Store contract, ``Admin``: an operator cancels a waiting or running job or retries an ended
one; other states refuse, saying why. A running job's cancel ends its attempt and fences its run,
and racing the run's own end leaves one outcome."""

from __future__ import annotations

import asyncio

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import (
    IllegalTransition,
    JobNotFound,
)
from jobq.domain.ids import JobId
from jobq.domain.job import Outcome
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


async def test_cancel_refuses_finished_jobs(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    await complete(store, job.lease, None, slot=WORKER, started_at=clock.now())
    with pytest.raises(IllegalTransition, match="succeeded") as refused:
        await store.admin.cancel(job.id)
    assert refused.value.state == "succeeded"
    with pytest.raises(IllegalTransition, match="cancelled"):
        await store.admin.cancel((await store.admin.cancel((await add(store, new()))[0].id)).id)
    with pytest.raises(JobNotFound):
        await store.admin.cancel(UNKNOWN)


async def test_cancel_of_a_running_job_ends_its_attempt_and_fences_its_run(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(max_attempts=5), new())
    job = await claim_one(store)
    other = await claim_one(store)
    clock.advance(2)
    cancelled = await store.admin.cancel(job.id)
    assert cancelled.status is JobState.CANCELLED and cancelled.finished_at == clock.now()
    assert cancelled.lease_expires_at is None
    [attempt] = await store.reads.attempts(job.id)
    assert attempt.outcome is Outcome.CANCELLED and attempt.attempt == job.attempt
    assert (attempt.worker_id, attempt.finished_at) == (OWNER, clock.now())
    # its pool finds it among its leases; the other job it holds is not
    assert await store.claims.cancelled([job.lease, other.lease]) == {job.id}
    # every write of the run is refused from here on: no outcome, no retry, no progress
    assert not await complete(store, job.lease, 1, slot=WORKER, started_at=clock.now())
    assert not await fail(
        store, job.lease, boom(), slot=WORKER, started_at=clock.now(), retry_at=later(clock, 1)
    )
    assert not await store.outcomes.progress(job.lease, 0.5, None)
    assert await store.claims.heartbeat([job.lease], lease_seconds=30) == set()
    clock.advance(3600)  # the leases run out: the other job comes back, the cancelled one not
    assert [e.job_id for e in await store.expiry.requeue_expired()] == [other.id]
    assert [j.id for j in await claim(store)] == [other.id]
    done = await store.reads.get(job.id)
    assert done is not None and done.status is JobState.CANCELLED
    assert len(await store.reads.attempts(job.id)) == 1


async def test_a_cancel_of_jobs_in_one_state_leaves_a_job_that_moved_on(
    store: Store, clock: FakeClock
) -> None:
    """``cancel_many`` read it pending; a pool claimed it since: it is left running."""
    [job] = await add(store, new())
    await claim_one(store)
    with pytest.raises(IllegalTransition) as refused:
        await store.admin.cancel(job.id, only_from=JobState.PENDING)
    assert refused.value.state == "running"
    still = await store.reads.get(job.id)
    assert still is not None and still.status is JobState.RUNNING
    [current] = await store.reads.attempts(job.id)
    assert current.outcome is None  # the run goes on
    assert (await store.admin.cancel(job.id, only_from=JobState.RUNNING)).status is (
        JobState.CANCELLED
    )


async def test_a_cancel_racing_the_end_of_a_run_leaves_one_outcome(
    store: Store, clock: FakeClock
) -> None:
    """50 runs each end (succeed or fail) while an operator cancels them, at once: each job
    ends once, as whichever write came first says, with one attempt record that agrees."""
    await add(store, *(new(max_attempts=1) for _ in range(50)))
    jobs = await claim(store, limit=50)
    assert len(jobs) == 50

    async def end(n: int) -> bool:
        job = jobs[n]
        if n % 2:
            return await complete(store, job.lease, n, slot=WORKER, started_at=clock.now())
        return await fail(
            store, job.lease, boom(), slot=WORKER, started_at=clock.now(), retry_at=None
        )

    async def cancel(n: int) -> bool:
        try:
            await store.admin.cancel(jobs[n].id)
        except IllegalTransition:
            return False
        return True

    # each pair at once, the cancel sent first for half of them
    pairs = [(end(n), cancel(n)) if n % 4 < 2 else (cancel(n), end(n)) for n in range(50)]
    results = await asyncio.gather(*(call for pair in pairs for call in pair))
    ended = [results[2 * n] if n % 4 < 2 else results[2 * n + 1] for n in range(50)]
    cancels = [results[2 * n + 1] if n % 4 < 2 else results[2 * n] for n in range(50)]
    assert any(cancels) and not all(cancels)  # both kinds won somewhere
    for n, job in enumerate(jobs):
        assert ended[n] != cancels[n], n  # exactly one of the two took effect
        final = await store.reads.get(job.id)
        [attempt] = await store.reads.attempts(job.id)
        assert final is not None
        if cancels[n]:
            assert (final.status, attempt.outcome) == (JobState.CANCELLED, Outcome.CANCELLED)
        elif n % 2:
            assert (final.status, attempt.outcome) == (JobState.SUCCEEDED, Outcome.SUCCEEDED)
        else:
            assert (final.status, attempt.outcome) == (JobState.DEAD, Outcome.FAILED)


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
