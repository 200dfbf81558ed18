"""Store contract, ``Retention``: finished jobs whose time is up are deleted with their attempts,
in batches, oldest first; jobs that may still run never are; the types' own retention is kept
for every process; both stores alike."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from jobq.clock import FakeClock
from jobq.domain.job import Job
from jobq.domain.states import JobState
from jobq.domain.unique import Unique, unique_fields
from jobq.store import JobFilter, Store, open_store
from jobq.store.options import PostgresOptions
from tests.contract.support import OWNER, WORKER, add, boom, claim, complete, fail, new

DAY = 86_400.0
S, C, D = JobState.SUCCEEDED, JobState.CANCELLED, JobState.DEAD


async def finish(store: Store, clock: FakeClock, job_type: str, outcome: JobState) -> Job:
    """One job of ``job_type``, taken to ``outcome`` now (after one attempt)."""
    [job] = await add(store, new(job_type, queue=f"q-{job_type}"))
    if outcome is C:
        return await store.admin.cancel(job.id)
    [claimed] = await claim(store, types=[job_type], limit=1)
    if outcome is S:
        assert await complete(store, claimed.lease, {}, slot=WORKER, started_at=clock.now())
    else:
        assert await fail(
            store, claimed.lease, boom(), slot=WORKER, started_at=clock.now(), retry_at=None
        )
    found = await store.reads.get(job.id)
    assert found is not None and found.status is outcome
    return found


async def test_due_finished_jobs_go_with_their_attempts_and_live_ones_stay(
    store: Store, clock: FakeClock
) -> None:
    old = {state: await finish(store, clock, "a", state) for state in (S, C, D)}
    clock.advance(2 * DAY)
    young = {state: await finish(store, clock, "a", state) for state in (S, C, D)}
    [running_job, failed_job] = await add(store, new("a"), new("a"))
    claimed = await claim(store, OWNER, types=["a"], limit=2)
    assert {j.id for j in claimed} == {running_job.id, failed_job.id}
    [pending] = await add(store, new("a"))
    retrying = next(j for j in claimed if j.id == failed_job.id)
    assert await fail(
        store,
        retrying.lease,
        boom(),
        slot=WORKER,
        started_at=clock.now(),
        retry_at=clock.now() + timedelta(days=30),
    )
    clock.advance(DAY / 2)
    assert await store.retention.finished_types(S) == ["a"]

    for state in (S, C, D):
        assert await store.retention.count_prunable(state, "a", DAY) == 1
        assert await store.retention.prune(state, "a", DAY, limit=10) == {"q-a": 1}
        assert await store.retention.prune(state, "a", DAY, limit=10) == {}
        assert await store.reads.get(old[state].id) is None
        assert await store.reads.attempts(old[state].id) == []
        assert await store.reads.get(young[state].id) is not None
    # a retention of 0: every finished job, however young; never one that may still run
    for state in (S, C, D):
        assert await store.retention.prune(state, "a", 0, limit=10) == {"q-a": 1}
        assert await store.retention.finished_types(state) == []
    left = await store.reads.list_jobs(JobFilter(), limit=10)
    assert {(j.id, j.status) for j in left.jobs} == {
        (pending.id, JobState.PENDING),
        (running_job.id, JobState.RUNNING),
        (failed_job.id, JobState.FAILED),
    }


async def test_batches_take_the_oldest_first_and_types_and_states_apart(
    store: Store, clock: FakeClock
) -> None:
    done = []
    for _ in range(5):
        done.append(await finish(store, clock, "a", S))
        clock.advance(60)
    other_type = await finish(store, clock, "b", S)
    other_state = await finish(store, clock, "a", D)
    clock.advance(3600)
    assert await store.retention.finished_types(S) == ["a", "b"]
    assert await store.retention.finished_types(D) == ["a"]
    assert await store.retention.finished_types(C) == []
    assert await store.retention.prune(S, "a", 60, limit=2) == {"q-a": 2}
    gone = [await store.reads.get(job.id) is None for job in done]
    assert gone == [True, True, False, False, False]
    assert await store.retention.count_prunable(S, "a", 60) == 3
    assert await store.retention.prune(S, "a", 60, limit=100) == {"q-a": 3}
    assert await store.reads.get(other_type.id) is not None
    assert await store.reads.get(other_state.id) is not None
    # only those older than the retention
    assert await store.retention.prune(S, "b", 3600 + 1, limit=100) == {}
    assert await store.retention.prune(S, "b", 3600 - 1, limit=100) == {"q-b": 1}


async def test_a_job_retried_by_an_operator_is_no_longer_due(
    store: Store, clock: FakeClock
) -> None:
    dead = await finish(store, clock, "a", D)
    clock.advance(DAY)
    await store.admin.retry(dead.id)
    assert await store.retention.finished_types(D) == []
    assert await store.retention.prune(D, "a", 0, limit=10) == {}
    again = await store.reads.get(dead.id)
    assert again is not None and again.status is JobState.PENDING
    assert len(await store.reads.attempts(dead.id)) == 1


async def test_keys_expire_with_their_job(store: Store, clock: FakeClock) -> None:
    """An idempotency key, or a unique key held in every state, names a new job once the job
    that held it is deleted."""
    keyed = new("a", idempotency_key="k-1")
    key, states = unique_fields(Unique(key="u", states=list(JobState)), "a", {}, clock.now())
    held = new("a", unique_key=key, unique_states=states)
    first, holder = (r.job for r in await store.enqueuer.enqueue([keyed, held]))
    for job in (first, holder):
        await store.admin.cancel(job.id)
    [same, blocked] = await store.enqueuer.enqueue([keyed, held])
    assert (same.created, same.job.id) == (False, first.id)
    assert blocked.unique_hit and blocked.job.id == holder.id
    clock.advance(8 * DAY)
    assert await store.retention.prune(C, "a", 7 * DAY, limit=10) == {"default": 2}
    [fresh, free] = await store.enqueuer.enqueue([keyed, held])
    assert fresh.created and fresh.job.id != first.id
    assert free.created and free.job.id != holder.id


async def test_the_types_own_retention_is_published_for_every_process(store: Store) -> None:
    assert await store.retention.declared() == {}
    await store.retention.publish(["a", "b", "c"], {"a": {S: 60.0, D: None}, "b": {C: 0.0}})
    assert await store.retention.declared() == {"a": {S: 60.0, D: None}, "b": {C: 0.0}}
    # a process whose "a" declares less, and whose "b" declares nothing, started later: its
    # code is what holds now; types it has no handler for keep theirs
    await store.retention.publish(["b"], {"a": {S: 120.0}})
    await store.retention.publish(["x"], {})
    assert await store.retention.declared() == {"a": {S: 120.0}}


async def test_processes_pruning_at_once_delete_each_job_once(
    store_url: str, store: Store, clock: FakeClock
) -> None:
    finished = [await finish(store, clock, "a", S) for _ in range(60)]
    clock.advance(DAY)
    stores = [
        await open_store(store_url, clock=clock, postgres=PostgresOptions(pool_size=2))
        for _ in range(4)
    ]
    try:

        async def sweep(one: Store) -> int:
            total = 0
            while deleted := sum((await one.retention.prune(S, "a", 60, limit=7)).values()):
                total += deleted
            return total

        counts = await asyncio.gather(*(sweep(one) for one in stores))
    finally:
        for one in stores:
            await one.close()
    assert sum(counts) == len(finished)
    assert await store.retention.finished_types(S) == []
