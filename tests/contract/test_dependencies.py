"""Store contract, ``Dependencies``: a job that depends on others waits until every one has
succeeded and is released in the transaction that records the last success; a dependency that
ends dead or cancelled cancels what waits for it, all the way down, unless a job says it runs
anyway; dependencies on stored jobs that ended already count as they ended; a workflow is read
back with its jobs and edges; a dependency that names no job stores nothing."""

from __future__ import annotations

import dataclasses

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import InvalidJob
from jobq.domain.ids import JobId, new_job_id
from jobq.domain.job import DeadReason, Job, NewJob
from jobq.domain.states import JobState
from jobq.domain.workflows import WorkflowRecord
from jobq.store import Store
from tests.contract.support import WORKER, add, boom, claim, complete, fail, new

W, P, R, S, D, C = (
    JobState.WAITING,
    JobState.PENDING,
    JobState.RUNNING,
    JobState.SUCCEEDED,
    JobState.DEAD,
    JobState.CANCELLED,
)


def after(job: NewJob, *parents: str, policy: str = "cancel") -> NewJob:
    return dataclasses.replace(
        job, depends_on=tuple(JobId(p) for p in parents), on_dependency_failure=policy
    )


async def states(store: Store, *jobs: Job) -> list[JobState]:
    found = [await store.reads.get(job.id) for job in jobs]
    return [job.status for job in found if job is not None]


async def succeed(store: Store, job_type: str, result: object = None) -> Job:
    [job] = await claim(store, types=[job_type], limit=1)
    assert await complete(store, job.lease, result, slot=WORKER, started_at=job.started_at)  # type: ignore[arg-type]
    return job


async def die(store: Store, job_type: str) -> Job:
    [job] = await claim(store, types=[job_type], limit=1)
    assert await fail(
        store, job.lease, boom(), slot=WORKER, started_at=job.started_at,  # type: ignore[arg-type]
        retry_at=None, dead_reason=DeadReason.NON_RETRYABLE,
    )  # fmt: skip
    return job


async def test_a_chain_runs_one_after_another_and_a_fan_in_waits_for_every_parent(
    store: Store,
) -> None:
    ids = [new_job_id() for _ in range(5)]
    a, b1, b2, b3, c = await store.dependencies.add(
        [
            new("a"),
            after(new("b"), ids[0]),
            after(new("b"), ids[0]),
            after(new("b"), ids[0]),
            after(new("c"), ids[1], ids[2], ids[3]),
        ],
        ids,
    )
    assert [a.status, b1.status, c.status] == [P, W, W]
    assert c.parents == 3 and a.parents == 0
    assert await claim(store, types=["b", "c"]) == []  # waiting jobs are not claimed
    await succeed(store, "a")
    assert await states(store, b1, b2, b3, c) == [P, P, P, W]
    await succeed(store, "b")
    await succeed(store, "b")
    assert await states(store, c) == [W]
    [retried] = await claim(store, types=["b"], limit=1)  # a failed attempt releases nothing
    assert await fail(
        store, retried.lease, boom(), slot=WORKER, started_at=retried.started_at,  # type: ignore[arg-type]
        retry_at=retried.run_at,
    )  # fmt: skip
    assert await states(store, c) == [W]
    await succeed(store, "b")
    assert await states(store, c) == [P]
    parents = await store.dependencies.parents(c.id)
    assert sorted(p.id for p in parents) == sorted(ids[1:4])
    assert all(p.status is S for p in parents)


async def test_a_failed_dependency_cancels_what_waits_for_it_all_the_way_down(
    store: Store,
) -> None:
    ids = [new_job_id() for _ in range(5)]
    jobs = await store.dependencies.add(
        [
            new("a"),
            after(new("b"), ids[0]),
            after(new("c"), ids[1]),
            after(new("d"), ids[2], policy="run"),  # runs once c has ended, however
            after(new("e"), ids[3]),
        ],
        ids,
    )
    await die(store, "a")
    a, b, c, d, e = [await store.reads.get(job.id) for job in jobs]
    assert [x.status for x in (a, b, c, d, e)] == [D, C, C, P, W]  # type: ignore[union-attr]
    assert b.dead_reason is DeadReason.DEPENDENCY_FAILED  # type: ignore[union-attr]
    assert b.last_error is not None and b.last_error.type == "DependencyFailed"  # type: ignore[union-attr]
    await succeed(store, "d")
    assert await states(store, e) == [P]


async def test_a_long_chain_is_cancelled_in_one_go(store: Store) -> None:
    ids = [new_job_id() for _ in range(300)]
    jobs = [new("link")] + [after(new("link"), ids[i - 1]) for i in range(1, 300)]
    stored = await store.dependencies.add(jobs, ids)
    [first] = await claim(store, types=["link"])
    assert await store.admin.cancel(first.id) is not None
    assert set(await states(store, *stored)) == {C}


async def test_dependencies_on_stored_jobs_count_as_they_ended(store: Store) -> None:
    done, running, gone = await add(store, new("done"), new("running"), new("gone"))
    await succeed(store, "done")
    [claimed] = await claim(store, types=["running"])
    await store.admin.cancel(gone.id)
    ids = [new_job_id() for _ in range(4)]
    only_done, with_running, with_gone, run_anyway = await store.dependencies.add(
        [
            after(new("x"), done.id),
            after(new("x"), done.id, running.id),
            after(new("x"), running.id, gone.id),
            after(new("x"), gone.id, policy="run"),
        ],
        ids,
    )
    assert [only_done.status, with_running.status, with_gone.status, run_anyway.status] == [
        P, W, C, P,
    ]  # fmt: skip
    assert await complete(store, claimed.lease, 1, slot=WORKER, started_at=claimed.started_at)  # type: ignore[arg-type]
    assert await states(store, with_running, with_gone) == [P, C]


async def test_a_dependency_that_names_no_job_stores_nothing(store: Store) -> None:
    ids = [new_job_id(), new_job_id()]
    with pytest.raises(InvalidJob, match="depends_on names no job"):
        await store.dependencies.add([new("a"), after(new("b"), new_job_id())], ids)
    assert await store.reads.get(ids[0]) is None


async def test_a_workflow_is_read_back_with_its_jobs_and_edges(
    store: Store, clock: FakeClock
) -> None:
    ids = [new_job_id() for _ in range(3)]
    record = WorkflowRecord("wf-1", "nightly", clock.now())
    await store.dependencies.add([new("a"), new("b"), after(new("c"), ids[0], ids[1])], ids, record)
    view = await store.dependencies.workflow("wf-1")
    assert view is not None and view.record == record
    assert [job.id for job in view.jobs] == sorted(ids)
    assert all(job.workflow_id == "wf-1" for job in view.jobs)
    assert sorted(view.edges) == sorted([(ids[0], ids[2]), (ids[1], ids[2])])
    assert await store.dependencies.workflow("nope") is None
