"""Jobs that wait for other jobs, on SQLite (schema 12). ``add`` stores jobs with their
dependencies in one transaction; ``settle`` runs at the end of every write transaction, before
it commits (``ThreadConnection.before_commit``): the trigger ``jobs_parent_ended`` noted each
job with dependents that ended, and what waits for it is released (its last parent succeeded:
pending) or cancelled (a parent failed; and so on down), round by round, in that transaction.
SQLite's triggers can neither recurse deep nor hold a WITH, hence the rounds here."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Sequence

from jobq.domain.errors import InvalidJob
from jobq.domain.ids import JobId
from jobq.domain.job import Job, NewJob
from jobq.domain.jsonvalues import compact
from jobq.domain.states import JobState
from jobq.domain.workflows import DependencyFailure, WorkflowRecord, WorkflowView
from jobq.store.common import JOB_COLUMNS
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.enqueue import SQLiteEnqueuer
from jobq.store.sqlite.rows import READ, from_us, to_us

WAITING, PENDING, CANCELLED = (JobState.WAITING, JobState.PENDING, JobState.CANCELLED)
FAILED_ENDS = "('dead', 'cancelled')"
ENDS = "('succeeded', 'dead', 'cancelled')"
RUN = DependencyFailure.RUN.value

ENDED = "DELETE FROM ended_parents RETURNING id, status"
# the waiting children of these parents (a JSON array), one fewer to wait for each parent;
# those left waiting for none are due now
RELEASE = f"""
UPDATE jobs SET
    waiting_on = jobs.waiting_on - d.n,
    status = CASE WHEN jobs.waiting_on - d.n <= 0 THEN '{PENDING}' ELSE jobs.status END,
    run_at = CASE WHEN jobs.waiting_on - d.n <= 0 THEN max(jobs.run_at, ?2) ELSE jobs.run_at END
FROM (SELECT child, count(*) AS n FROM job_edges
      WHERE parent IN (SELECT value FROM json_each(?1)) GROUP BY child) AS d
WHERE jobs.id = d.child AND jobs.status = '{WAITING}'
"""
RELEASE_RUN = RELEASE + f" AND jobs.on_dependency_failure = '{RUN}'"
CANCEL_CHILDREN = f"""
UPDATE jobs SET status = '{CANCELLED}', dead_reason = 'dependency_failed', finished_at = ?2,
    last_error = json_object('type', 'DependencyFailed', 'message',
        'a job it depends on (' || (SELECT min(e.parent) FROM job_edges e
            WHERE e.child = jobs.id AND e.parent IN (SELECT value FROM json_each(?1)))
        || ') ended dead or cancelled')
WHERE status = '{WAITING}' AND coalesce(on_dependency_failure, 'cancel') <> '{RUN}'
    AND id IN (SELECT child FROM job_edges WHERE parent IN (SELECT value FROM json_each(?1)))
"""
PARENTS = "SELECT id, status FROM jobs WHERE id IN (SELECT value FROM json_each(?))"
EDGES = """
INSERT INTO job_edges (parent, child)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(?)
WHERE true ON CONFLICT DO NOTHING
"""
MARK = "UPDATE jobs SET has_children = 1 WHERE id IN (SELECT value FROM json_each(?))"
# the children were stored waiting for every parent: those that had ended already are
# counted off (none, in a workflow of new jobs only)
ENDED_BEFORE = f"""
UPDATE jobs SET waiting_on = jobs.waiting_on - d.n
FROM (SELECT e.child AS child, count(*) AS n FROM job_edges e JOIN jobs p ON p.id = e.parent
      WHERE e.child IN (SELECT value FROM json_each(?1)) AND p.status IN {ENDS}
      GROUP BY e.child) AS d
WHERE jobs.id = d.child
"""
# children of parents that had failed already, before they were added
FAILED_BEFORE = f"""
SELECT DISTINCT e.parent FROM job_edges e JOIN jobs p ON p.id = e.parent
WHERE e.child IN (SELECT value FROM json_each(?)) AND p.status IN {FAILED_ENDS}
"""
READY = f"""
UPDATE jobs SET status = '{PENDING}'
WHERE id IN (SELECT value FROM json_each(?)) AND status = '{WAITING}' AND waiting_on <= 0
"""
ADD_WORKFLOW = "INSERT INTO workflows (id, name, created_at) VALUES (?, ?, ?)"
WORKFLOW = "SELECT id, name, created_at FROM workflows WHERE id = ?"
WORKFLOW_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE workflow_id = ? ORDER BY id"
WORKFLOW_EDGES = """
SELECT e.parent, e.child FROM job_edges e JOIN jobs j ON j.id = e.child
WHERE j.workflow_id = ? ORDER BY e.child, e.parent
"""
PARENT_JOBS = f"""
SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (SELECT parent FROM job_edges WHERE child = ?)
ORDER BY id
"""
JOBS_BY_ID = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))"


def settle(now: Callable[[], int]) -> Callable[[sqlite3.Connection], bool]:
    """What ``before_commit`` runs: release or cancel what waits for the jobs that ended in
    this transaction, round by round (a cancel ends more), until none is left; True if there
    were any (jobs may be due now: ring, once committed)."""

    def run(conn: sqlite3.Connection) -> bool:
        ended = conn.execute(ENDED).fetchall()
        if not ended:
            return False
        at = now()
        while ended:
            good = [job_id for job_id, status in ended if status == JobState.SUCCEEDED]
            bad = [job_id for job_id, status in ended if status != JobState.SUCCEEDED]
            if good:
                conn.execute(RELEASE, (compact(good), at))
            if bad:
                conn.execute(RELEASE_RUN, (compact(bad), at))
                conn.execute(CANCEL_CHILDREN, (compact(bad), at))
            ended = conn.execute(ENDED).fetchall()
        return True

    return run


class SQLiteDependencies:
    def __init__(self, db: Database, enqueuer: SQLiteEnqueuer) -> None:
        self._db = db
        self._enqueuer = enqueuer

    async def add(
        self,
        jobs: Sequence[NewJob],
        ids: Sequence[JobId],
        workflow: WorkflowRecord | None = None,
    ) -> list[Job]:
        if workflow is not None:
            jobs = [dataclasses.replace(job, workflow_id=workflow.id) for job in jobs]
        insert = self._enqueuer.inserter(jobs, ids)  # the children are stored waiting
        pairs = list(zip(ids, jobs, strict=True))
        edges = [[parent, job_id] for job_id, job in pairs for parent in job.depends_on]
        child_ids = compact([job_id for job_id, job in pairs if job.depends_on])
        parents = sorted({parent for parent, _ in edges})
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> list[Job]:
            insert(conn)
            known = {job_id for job_id, _ in conn.execute(PARENTS, (compact(parents),))}
            missing = [parent for parent in parents if parent not in known]
            if missing:
                raise InvalidJob(f"depends_on names no job: {', '.join(missing[:5])}")
            if workflow is not None:
                conn.execute(ADD_WORKFLOW, (workflow.id, workflow.name, to_us(workflow.created_at)))
            if edges:
                conn.execute(EDGES, (compact(edges),))
                conn.execute(MARK, (compact(parents),))
                conn.execute(ENDED_BEFORE, (child_ids,))
                # a parent that had failed already cancels its new children (those that run
                # anyway did not count it: it has ended)
                failed = [row[0] for row in conn.execute(FAILED_BEFORE, (child_ids,))]
                if failed:
                    conn.execute(CANCEL_CHILDREN, (compact(failed), now))
                conn.execute(READY, (child_ids,))
            rows = {
                row[0]: READ.job(row) for row in conn.execute(JOBS_BY_ID, (compact(list(ids)),))
            }
            return [rows[job_id] for job_id in ids]

        stored = await self._db.writer.write(run)
        if any(job.status is PENDING and to_us(job.run_at) <= now for job in stored):
            self._enqueuer.ringer.ring()
        return stored

    async def workflow(self, workflow_id: str) -> WorkflowView | None:
        def run(conn: sqlite3.Connection) -> WorkflowView | None:
            found = conn.execute(WORKFLOW, (workflow_id,)).fetchone()
            if found is None:
                return None
            record = WorkflowRecord(found[0], found[1], from_us(found[2]))
            jobs = list(map(READ.job, conn.execute(WORKFLOW_JOBS, (workflow_id,))))
            edges = [(p, c) for p, c in conn.execute(WORKFLOW_EDGES, (workflow_id,))]
            return WorkflowView(record, jobs, edges)

        return await self._db.reader.read(run)

    async def parents(self, job_id: JobId) -> list[Job]:
        return await self._db.reader.read(
            lambda conn: list(map(READ.job, conn.execute(PARENT_JOBS, (job_id,))))
        )
