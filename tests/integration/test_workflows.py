"""Workflows from Python on both stores: chains, groups and fan-in run in order, each job
released only once everything it waits for has succeeded; a job reads the results of those it
waited for (typed where their handlers are); a failure cancels what waits for it, down the
graph, unless a job runs anyway; ``depends_on`` on stored jobs; a workflow is read back and
cancelled; a bad workflow names the job at fault and stores nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jobq import (
    InvalidJob,
    InvalidWorkflow,
    JobQueue,
    JobState,
    WorkflowNotFound,
    chain,
    group,
    step,
)
from jobq.domain.job import DeadReason
from tests.apps.flows import Number, app


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = app(store_url)
    async with queue:
        yield queue


async def stored(jq: JobQueue) -> int:
    return len((await jq.list_jobs(limit=100)).jobs)


async def test_a_fan_out_and_fan_in_runs_in_order_and_passes_results_along(
    jq: JobQueue,
) -> None:
    flow = chain(
        step("fetch", {"n": 1}, ref="first"),
        group([step("square", Number(n=n)) for n in (2, 3, 4)] + [step("fetch", {"n": 5})]),
        step("merge", ref="merge"),
    )
    workflow = await jq.submit(flow, name="squares")
    jobs = workflow.jobs
    assert set(jobs) == {"first", "square#1", "square#2", "square#3", "fetch#1", "merge"}
    assert jobs["first"].status is JobState.PENDING
    assert jobs["square#1"].status is JobState.WAITING and jobs["merge"].parents == 4
    assert all(job.workflow_id == workflow.id for job in jobs.values())
    await jq.run(until_idle=True)
    merged = await jq.get(jobs["merge"].id)
    assert merged.status is JobState.SUCCEEDED
    assert merged.result == {
        "squares": [4, 9, 16],
        "fetched": [5],
        "seen": ["succeeded"] * 4,
    }
    ran = {job.id: job for job in (await jq.list_jobs(limit=100)).jobs}
    for child in ("square#1", "fetch#1"):  # each started after the first ended
        assert ran[jobs[child].id].started_at >= ran[jobs["first"].id].finished_at  # type: ignore[operator]
    view = await jq.workflows.get(workflow.id)
    assert view.record.name == "squares" and len(view.jobs) == 6 and len(view.edges) == 8


async def test_a_failure_cancels_what_waits_for_it_unless_it_runs_anyway(jq: JobQueue) -> None:
    flow = chain(
        step("boom", ref="boom"),
        group(
            [
                step("fetch", {"n": 1}, ref="never"),
                step("merge", ref="anyway", on_dependency_failure="run"),
            ]
        ),
        step("merge", ref="after-never"),
    )
    workflow = await jq.submit(flow)
    await jq.run(until_idle=True)
    found = {job.id: job for job in (await jq.workflows.get(workflow.id)).jobs}
    status = {ref: found[job.id].status for ref, job in workflow.jobs.items()}
    assert status == {
        "boom": JobState.DEAD,
        "never": JobState.CANCELLED,
        "anyway": JobState.SUCCEEDED,
        "after-never": JobState.CANCELLED,
    }
    never = found[workflow.jobs["never"].id]
    assert never.dead_reason is DeadReason.DEPENDENCY_FAILED
    assert found[workflow.jobs["anyway"].id].result == {
        "squares": [], "fetched": [], "seen": ["dead"],
    }  # fmt: skip


async def test_depends_on_stored_jobs_and_cancelling_a_workflow(jq: JobQueue) -> None:
    first = await jq.enqueue("fetch", {"n": 7})
    second = await jq.enqueue("merge", {}, depends_on=[first.id])
    assert second.status is JobState.WAITING and second.parents == 1
    await jq.run(until_idle=True)
    assert (await jq.get(second.id)).result["fetched"] == [7]  # type: ignore[index]

    workflow = await jq.submit(chain(step("fetch", {"n": 1}, delay=3600), step("merge")))
    assert await jq.workflows.cancel(workflow.id) == 2
    view = await jq.workflows.get(workflow.id)
    assert {job.status for job in view.jobs} == {JobState.CANCELLED}
    with pytest.raises(WorkflowNotFound):
        await jq.workflows.get("no-such-workflow")


async def test_a_bad_workflow_names_the_job_at_fault_and_stores_nothing(jq: JobQueue) -> None:
    before = await stored(jq)
    with pytest.raises(InvalidWorkflow) as refused:
        await jq.submit(chain(step("fetch", {"n": 1}), step("square", {"n": "x"}, ref="sq")))
    assert [(p.field, p.message) for p in refused.value.problems] == [
        ("jobs['sq'].payload.n", "must be an integer, not a string")
    ]
    with pytest.raises(InvalidWorkflow, match=r"jobs\['nope#1'\]: unknown job type 'nope'"):
        await jq.submit(group([step("fetch", {"n": 1}), step("nope")]))
    with pytest.raises(InvalidWorkflow, match="is given to jobs"):
        await jq.submit(group([step("fetch", {"n": 1}, ref="a"), step("fetch", {"n": 2}, ref="a")]))
    with pytest.raises(InvalidJob, match="is not a job id"):
        await jq.enqueue("fetch", {"n": 1}, depends_on=["not-an-id"])
    with pytest.raises(InvalidJob, match="depends_on names no job"):
        await jq.enqueue("fetch", {"n": 1}, depends_on=["01a24776-76bc-73a8-bf67-8086b81a28b5"])
    assert await stored(jq) == before
