"""Leases that ran out, on PostgreSQL: each job gets another attempt, or is dead
(``worker_lost``) on its last; the lost attempt is recorded; pools of requeued queues woken."""

from __future__ import annotations

from typing import Any

import psycopg

from jobq.domain.ids import JobId, PoolId
from jobq.domain.job import WORKER_LOST_ERROR, DeadReason, Outcome
from jobq.domain.jsonvalues import dumps
from jobq.domain.states import Event, JobState, target
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW, RUNNING
from jobq.store.records import Expired


class PostgresExpiry:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        jobs, attempts = ctx.tables.jobs, ctx.tables.attempts
        last = "expired.attempt >= expired.max_attempts"
        #: the statement (public: tests read its plan)
        self.requeue_sql = f"""
            WITH expired AS (
                SELECT id, worker_id, attempt, max_attempts, started_at FROM {jobs}
                WHERE status = '{RUNNING}' AND lease_expires_at < {NOW}
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                UPDATE {jobs}
                SET status = CASE WHEN {last} THEN '{target(Event.EXPIRE_DEAD).value}'
                                  ELSE '{target(Event.EXPIRE).value}' END,
                    worker_id = NULL, lease_expires_at = NULL, last_error = %(error)s::json,
                    dead_reason = CASE WHEN {last} THEN '{DeadReason.WORKER_LOST.value}' END,
                    finished_at = CASE WHEN {last} THEN {NOW} END
                FROM expired WHERE {jobs}.id = expired.id
                RETURNING {jobs}.id, expired.worker_id, expired.attempt, {jobs}.status,
                          {jobs}.queue, {jobs}.type, expired.started_at
            ), recorded AS (
                INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at,
                                        outcome, error)
                SELECT id, attempt, worker_id, started_at, {NOW}, '{Outcome.LOST.value}',
                       %(error)s::json
                FROM moved
            )
            SELECT id, worker_id, attempt, status, queue, type FROM moved"""

    async def requeue_expired(self) -> list[Expired]:
        params = {"error": dumps(WORKER_LOST_ERROR.to_dict(), what="error"), "now": self._ctx.now()}

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[Expired]:
            rows = await (await conn.execute(self.requeue_sql, params)).fetchall()
            pending = JobState.PENDING.value
            await self._ctx.tables.notify(conn, {row[4] for row in rows if row[3] == pending})
            return [
                Expired(JobId(str(job_id)), PoolId(owner), attempt, JobState(status), queue, kind)
                for job_id, owner, attempt, status, queue, kind in rows
            ]

        return await self._ctx.db.run(run)
