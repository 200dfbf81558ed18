"""Jobs that wait for other jobs, on PostgreSQL (schema 12). ``add`` stores jobs with their
dependencies in one transaction: it locks the parents' rows first (in id order), so a parent
that ends meanwhile waits for this transaction and then finds its new dependents; the trigger
``jobs_parent_ended`` (migration 12) releases or cancels what waits for a job when it ends."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from jobq.domain.errors import InvalidJob
from jobq.domain.ids import JobId
from jobq.domain.job import Job, NewJob
from jobq.domain.states import JobState
from jobq.domain.workflows import WorkflowRecord, WorkflowView
from jobq.store.postgres.context import Context
from jobq.store.postgres.enqueue import PostgresEnqueuer
from jobq.store.postgres.rows import READ, as_uuid, columns

WAITING, PENDING = JobState.WAITING.value, JobState.PENDING.value
ENDS = "('succeeded', 'dead', 'cancelled')"


class PostgresDependencies:
    def __init__(self, ctx: Context, enqueuer: PostgresEnqueuer) -> None:
        self._ctx = ctx
        self._enqueuer = enqueuer
        jobs, edges = ctx.tables.jobs, ctx.tables.job_edges
        self._lock = f"""
            SELECT id::text FROM {jobs} WHERE id = ANY(%(parents)s::uuid[])
            ORDER BY id FOR NO KEY UPDATE"""
        self._mark = f"""
            UPDATE {jobs} SET has_children = true
            WHERE id = ANY(%(parents)s::uuid[]) AND NOT has_children"""
        self._edges = f"""
            INSERT INTO {edges} (parent, child)
            SELECT * FROM unnest(%(edge_parents)s::uuid[], %(edge_children)s::uuid[])
            ON CONFLICT DO NOTHING"""
        # the children were stored waiting for every parent: those that had ended already
        # are counted off (none, in a workflow of new jobs only)
        self._ended_before = f"""
            UPDATE {jobs} j SET waiting_on = j.waiting_on - d.n
            FROM (SELECT e.child, count(*) AS n FROM {edges} e JOIN {jobs} p ON p.id = e.parent
                  WHERE e.child = ANY(%(children)s::uuid[]) AND p.status IN {ENDS}
                  GROUP BY e.child) AS d
            WHERE j.id = d.child"""
        # a parent that had failed already cancels its new children (the trigger cascades)
        self._cancel_failed = f"""
            UPDATE {jobs} SET status = 'cancelled', dead_reason = 'dependency_failed',
                finished_at = coalesce(%(now)s::timestamptz, now()),
                last_error = json_build_object('type', 'DependencyFailed', 'message',
                    'a job it depends on had ended dead or cancelled')
            WHERE status = '{WAITING}' AND on_dependency_failure IS DISTINCT FROM 'run'
              AND id IN (SELECT e.child FROM {edges} e JOIN {jobs} p ON p.id = e.parent
                         WHERE e.child = ANY(%(children)s::uuid[])
                           AND p.status IN ('dead', 'cancelled'))"""
        self._ready = f"""
            UPDATE {jobs} SET status = '{PENDING}'
            WHERE id = ANY(%(children)s::uuid[]) AND status = '{WAITING}' AND waiting_on <= 0"""
        self._add_workflow = f"""
            INSERT INTO {ctx.tables.workflows} (id, name, created_at)
            VALUES (%(workflow)s, %(name)s, %(created_at)s)"""
        self._jobs = f"SELECT {columns('j')} FROM {jobs} j WHERE j.id = ANY(%(ids)s::uuid[])"
        self._workflow = f"""
            SELECT id, name, created_at FROM {ctx.tables.workflows} WHERE id = %(workflow)s"""
        self._workflow_jobs = f"""
            SELECT {columns("j")} FROM {jobs} j WHERE j.workflow_id = %(workflow)s ORDER BY j.id"""
        self._workflow_edges = f"""
            SELECT e.parent, e.child FROM {edges} e JOIN {jobs} j ON j.id = e.child
            WHERE j.workflow_id = %(workflow)s ORDER BY e.child, e.parent"""
        self._parents = f"""
            SELECT {columns("j")} FROM {jobs} j
            WHERE j.id IN (SELECT parent FROM {edges} WHERE child = %(id)s) ORDER BY j.id"""

    async def add(
        self,
        jobs: Sequence[NewJob],
        ids: Sequence[JobId],
        workflow: WorkflowRecord | None = None,
    ) -> list[Job]:
        if workflow is not None:
            jobs = [dataclasses.replace(job, workflow_id=workflow.id) for job in jobs]
        pairs = list(zip(ids, jobs, strict=True))
        edges = [(parent, job_id) for job_id, job in pairs for parent in job.depends_on]
        children = [job_id for job_id, job in pairs if job.depends_on]
        parents = sorted({parent for parent, _ in edges})
        params = {
            "ids": list(ids),
            "parents": parents,
            "edge_parents": [p for p, _ in edges],
            "edge_children": [c for _, c in edges],
            "children": children,
            "now": self._ctx.now(),
            "workflow": None if workflow is None else workflow.id,
            "name": None if workflow is None else workflow.name,
            "created_at": None if workflow is None else workflow.created_at,
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[Job]:
            cursor = conn.cursor(row_factory=tuple_row)
            await self._enqueuer.insert(conn, jobs, commit=False, ids=ids)
            if parents:  # locked in id order: a parent ending now waits for this to commit
                await cursor.execute(self._lock, params)
                known = {row[0] for row in await cursor.fetchall()}
                missing = [parent for parent in parents if parent not in known]
                if missing:
                    raise InvalidJob(f"depends_on names no job: {', '.join(missing[:5])}")
            if workflow is not None:
                await cursor.execute(self._add_workflow, params)
            if edges:
                for statement in (self._mark, self._edges, self._ended_before):
                    await cursor.execute(statement, params)
                await cursor.execute(self._cancel_failed, params)
                await cursor.execute(self._ready, params)
            await cursor.execute(self._jobs, params)
            by_id = {job.id: job for job in map(READ.job, await cursor.fetchall())}
            stored = [by_id[job_id] for job_id in ids]
            await self._ctx.tables.notify(
                conn, {j.queue for j in stored if j.status is JobState.PENDING}
            )
            return stored

        return await self._ctx.db.run(run)

    async def workflow(self, workflow_id: str) -> WorkflowView | None:
        params = {"workflow": workflow_id}

        async def run(conn: psycopg.AsyncConnection[Any]) -> WorkflowView | None:
            cursor = conn.cursor(row_factory=tuple_row)
            await cursor.execute(self._workflow, params)
            found = await cursor.fetchone()
            if found is None:
                return None
            record = WorkflowRecord(found[0], found[1], found[2])
            await cursor.execute(self._workflow_jobs, params)
            jobs = list(map(READ.job, await cursor.fetchall()))
            await cursor.execute(self._workflow_edges, params)
            edges = [(str(p), str(c)) for p, c in await cursor.fetchall()]
            return WorkflowView(record, jobs, edges)

        return await self._ctx.db.run(run)

    async def parents(self, job_id: JobId) -> list[Job]:
        key = as_uuid(job_id)
        if key is None:
            return []
        return list(map(READ.job, await self._ctx.db.fetch(self._parents, {"id": key})))
