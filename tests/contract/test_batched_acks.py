"""Store contract: ``complete_many``, how workers acknowledge successes in batches. Each job is
written only under the lease that owns it, in one transaction, exactly as ``complete`` would."""

from __future__ import annotations

from jobq.clock import FakeClock
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.store import Store
from jobq.store.base import Completion
from jobq.store.codec import dumps
from tests.contract.support import LEASE, OTHER, OWNER, add, claim_one, new

WORKER = OWNER + "/w1"


async def test_every_owned_job_is_completed_with_its_result_and_attempt(
    store: Store, clock: FakeClock
) -> None:
    await add(store, *(new(payload={"n": n}) for n in range(5)))
    jobs = await store.claim(OWNER, queues=None, limit=5, lease_seconds=LEASE)
    started = clock.now()
    clock.advance(1.5)
    acks = [
        Completion(job.lease, dumps({"n": n}, what="result"), WORKER, started)
        for n, job in enumerate(jobs)
    ]
    assert await store.complete_many(acks) == {job.id for job in jobs}
    for n, job in enumerate(jobs):
        done = await store.get(job.id)
        assert done is not None and done.status is JobState.SUCCEEDED
        assert done.result == {"n": n}
        assert (done.started_at, done.finished_at) == (started, clock.now())
        assert done.lease_expires_at is None
        [attempt] = await store.attempts(job.id)
        assert attempt.outcome is Outcome.SUCCEEDED and attempt.worker_id == WORKER
        assert (attempt.started_at, attempt.finished_at) == (started, clock.now())


async def test_lost_leases_are_left_alone_and_the_rest_written(
    store: Store, clock: FakeClock
) -> None:
    await add(store, new(max_attempts=5), new())
    stale_job = await claim_one(store, OWNER, lease=1)
    kept = await claim_one(store, OWNER)
    clock.advance(2)  # the first lease runs out; another worker has it now
    await store.requeue_expired()
    fresh = await claim_one(store, OTHER)
    assert fresh.id == stale_job.id
    acks = [
        Completion(stale_job.lease, "1", WORKER, clock.now()),
        Completion(kept.lease, "2", WORKER, clock.now()),
    ]
    assert await store.complete_many(acks) == {kept.id}
    other = await store.get(fresh.id)
    assert other is not None and other.status is JobState.RUNNING and other.worker_id == OTHER
    attempts = await store.attempts(fresh.id)
    assert len(attempts) == 2 and Outcome.SUCCEEDED not in {a.outcome for a in attempts}
    assert (await store.get(kept.id)).result == 2  # type: ignore[union-attr]


async def test_a_repeated_acknowledgement_changes_nothing(store: Store, clock: FakeClock) -> None:
    await add(store, new())
    job = await claim_one(store)
    ack = Completion(job.lease, '"first"', WORKER, clock.now())
    assert await store.complete_many([ack]) == {job.id}
    again = Completion(job.lease, '"second"', WORKER, clock.now())
    assert await store.complete_many([again]) == set()
    done = await store.get(job.id)
    assert done is not None and done.result == "first"
    assert len(await store.attempts(job.id)) == 1


async def test_nothing_to_acknowledge(store: Store) -> None:
    assert await store.complete_many([]) == set()
