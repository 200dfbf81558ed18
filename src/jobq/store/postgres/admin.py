"""What an operator may change on PostgreSQL: cancel a waiting or running job, retry an ended
one."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import tuple_row

from jobq.domain.errors import JobNotFound
from jobq.domain.ids import JobId
from jobq.domain.job import Job, Outcome
from jobq.domain.states import Event, JobState, sources, sql_in, target
from jobq.store.common import refusal
from jobq.store.ports import RUN_CANCELLED
from jobq.store.postgres.context import Context
from jobq.store.postgres.rows import READ, as_uuid, columns
from jobq.store.postgres.sql import NOW


class PostgresAdmin:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        jobs = ctx.tables.jobs
        cols = columns(jobs)
        # A running job's attempt ends here, recorded in the same statement; `ran` says whether
        # it was running (its pool is told to stop the run).
        self._cancel = f"""
            WITH before AS (
                SELECT id, status FROM {jobs} WHERE id = %(id)s FOR UPDATE
            ), changed AS (
                UPDATE {jobs} SET status = '{target(Event.CANCEL).value}', finished_at = {NOW},
                                  lease_expires_at = NULL
                FROM before
                WHERE {jobs}.id = before.id AND before.status IN {sql_in(sources(Event.CANCEL))}
                  AND (%(only_from)s::text IS NULL OR before.status = %(only_from)s::text)
                RETURNING {cols}, before.status = '{JobState.RUNNING.value}' AS ran
            ), recorded AS (
                INSERT INTO {ctx.tables.attempts} (job_id, attempt, worker_id, started_at,
                                                   finished_at, outcome, error)
                SELECT id, attempt, worker_id, started_at, {NOW}, '{Outcome.CANCELLED.value}',
                       NULL
                FROM changed WHERE ran
            )
            SELECT * FROM changed"""
        # Give a job that used up its attempts one more; keep its history in `attempts`.
        self._retry = f"""
            UPDATE {jobs} SET status = '{target(Event.RETRY).value}', run_at = {NOW},
                              max_attempts = GREATEST(max_attempts, attempt + 1),
                              dead_reason = NULL, finished_at = NULL, worker_id = NULL,
                              lease_expires_at = NULL
            WHERE id = %(id)s AND status IN {sql_in(sources(Event.RETRY))}
            RETURNING {cols}"""
        self._status_of = f"SELECT status FROM {jobs} WHERE id = %(id)s"

    async def cancel(self, job_id: JobId, *, only_from: JobState | None = None) -> Job:
        only = None if only_from is None else only_from.value
        return await self._change(job_id, Event.CANCEL, self._cancel, only_from=only)

    async def retry(self, job_id: JobId) -> Job:
        return await self._change(job_id, Event.RETRY, self._retry)

    async def _change(
        self, job_id: JobId, event: Event, sql: str, *, only_from: str | None = None
    ) -> Job:
        key = as_uuid(job_id)
        if key is None:
            raise JobNotFound(f"no job has the id {job_id}")
        params = {"id": key, "now": self._ctx.now(), "only_from": only_from}

        async def run(conn: psycopg.AsyncConnection[Any]) -> Job:
            cursor = conn.cursor(row_factory=tuple_row)
            row = await (await cursor.execute(sql, params)).fetchone()
            if row is not None:
                job = READ.job(row[: len(row) - 1] if event is Event.CANCEL else row)
                if job.status is JobState.PENDING:
                    await self._ctx.tables.notify(conn, {job.queue})
                elif event is Event.CANCEL and row[-1]:  # it was running: stop the run
                    await self._ctx.tables.notify(conn, {RUN_CANCELLED})
                return job
            state = await (await cursor.execute(self._status_of, params)).fetchone()
            raise refusal(job_id, None if state is None else state[0], event, only_from=only_from)

        return await self._ctx.db.run(run)
