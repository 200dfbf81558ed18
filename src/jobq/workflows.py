"""Workflows (``jq.workflows``): jobs that wait for other jobs, submitted together. ``submit``
checks the graph (``domain/workflows.py``) and every job as any enqueue is checked, then stores
them all in one transaction (``Dependencies.add``); ``get`` reads one back with its jobs'
states; ``cancel`` cancels what has not ended (the store cancels what waits for a cancelled
job). The builders are in ``flows.py``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import structlog

from jobq.catalog import Catalog
from jobq.clock import Clock
from jobq.domain.errors import (
    FieldProblem,
    IllegalTransition,
    InvalidJob,
    InvalidWorkflow,
    UnknownJobType,
    WorkflowNotFound,
)
from jobq.domain.ids import new_job_id
from jobq.domain.job import NewJob
from jobq.domain.states import TERMINAL, JobState
from jobq.domain.workflows import Node, Workflow, WorkflowRecord, WorkflowView, check_graph
from jobq.flows import Flow, Step, chain, refs_of
from jobq.store.ports import Admin, Dependencies

logger = structlog.get_logger("jobq.workflows")


class Workflows:
    def __init__(
        self,
        store: Callable[[], Dependencies],
        admin: Callable[[], Admin],
        new_job: Callable[..., NewJob],
        catalog: Catalog,
        clock: Clock,
        wake: Callable[[], None],
    ) -> None:
        self._store = store
        self._admin = admin
        self._new_job = new_job
        self._catalog = catalog
        self._clock = clock
        self._wake = wake

    async def submit(self, flow: Step | Flow, *, name: str | None = None) -> Workflow:
        """Store every job of ``flow`` (``jobq.flows``: ``step``, ``chain``, ``group``,
        ``.then``) in one transaction, each waiting for those it comes after; all or nothing.
        ``InvalidWorkflow`` names what is wrong (a job by its reference)."""
        if isinstance(flow, Step):
            flow = chain(flow)
        refs = refs_of(flow)
        after: list[list[str]] = [[] for _ in flow.steps]
        for parent, child in flow.edges:
            after[child].append(refs[parent])
        return await self.submit_steps(flow.steps, refs, after, name=name)

    async def submit_steps(
        self,
        steps: Sequence[Step],
        refs: Sequence[str],
        after: Sequence[Sequence[str]],
        *,
        name: str | None = None,
        where: str = "jobs",
    ) -> Workflow:
        """``steps`` named ``refs``, each after the steps ``after`` names (``POST /workflows``
        gives them so); all stored in one transaction, or ``InvalidWorkflow`` and none."""
        nodes = [Node(ref, tuple(mine)) for ref, mine in zip(refs, after, strict=True)]
        graph = check_graph(nodes, where=where)
        await self._catalog.refresh()
        ids = [new_job_id() for _ in steps]
        jobs: list[NewJob] = []
        problems: list[FieldProblem] = []
        for i, s in enumerate(steps):
            at = f"{where}[{refs[i]!r}]" if where == "jobs" else f"{where}[{i}]"
            try:
                jobs.append(self._job(s, [ids[p] for p in graph.parents[i]]))
            except (InvalidJob, UnknownJobType) as exc:
                found = [FieldProblem(f"{at}.{p.field}", p.message) for p in _problems(exc)]
                problems += found or [FieldProblem(at, str(exc))]
        if problems:
            said = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
            raise InvalidWorkflow(f"{said} (nothing was stored)", problems=problems)
        record = WorkflowRecord(new_job_id(), name, self._clock.now())
        stored = await self._store().add(jobs, ids, record)
        logger.info("workflow_submitted", workflow_id=record.id, name=name, jobs=len(stored))
        self._wake()
        return Workflow(record.id, name, dict(zip(refs, stored, strict=True)))

    def _job(self, s: Step, parents: list[str]) -> NewJob:
        options: dict[str, Any] = dict(s.options)
        if options.get("idempotency_key") is not None or options.get("unique") is not None:
            raise InvalidJob("a job of a workflow can have no idempotency_key and cannot be unique")
        # besides those of the workflow, a step may wait for jobs stored before it
        stored_before = list(options.pop("depends_on", None) or [])
        options.pop("on_dependency_failure", None)
        return self._new_job(
            s.type,
            s.payload,
            depends_on=[*parents, *stored_before],
            on_dependency_failure=s.on_dependency_failure,
            **options,
        )

    async def get(self, workflow_id: str) -> WorkflowView:
        """A workflow's jobs (their states now) and who waits for whom; ``WorkflowNotFound``."""
        found = await self._store().workflow(workflow_id)
        if found is None:
            raise WorkflowNotFound(f"no workflow {workflow_id!r}")
        return found

    async def cancel(self, workflow_id: str) -> int:
        """Cancel every job of the workflow that has not ended (running ones are stopped, as
        ``jq.cancel`` stops them); how many were cancelled. ``WorkflowNotFound``."""
        view = await self.get(workflow_id)
        open_ids = {job.id for job in view.jobs if job.status not in TERMINAL}
        # the first jobs first (ids sort by creation): cancelling one cancels, in the store,
        # what waits for it
        for job in view.jobs:
            if job.id in open_ids:
                with contextlib.suppress(IllegalTransition):  # ended, or cancelled already
                    await self._admin().cancel(job.id)
        after = await self.get(workflow_id)
        cancelled = sum(
            1 for job in after.jobs if job.id in open_ids and job.status is JobState.CANCELLED
        )
        logger.info("workflow_cancelled", workflow_id=workflow_id, cancelled=cancelled)
        self._wake()
        return cancelled


def _problems(exc: Exception) -> list[FieldProblem]:
    return list(getattr(exc, "problems", []))
