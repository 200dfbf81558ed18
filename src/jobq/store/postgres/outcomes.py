"""The end of an attempt on PostgreSQL: succeeded, failed, handed back; and progress on the
way. Each outcome is one statement: the fenced update, and the attempt's record only if the
update matched (its row count says whether the lease still held)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import ErrorInfo, Lease, Outcome
from jobq.domain.jsonvalues import compact, dumps
from jobq.domain.states import Event, JobState, target
from jobq.store.common import failure_state
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import FENCE, NOW, RELEASE_SET, RUNNING, record_attempt
from jobq.store.records import Completion, Failure, first_per_job

SUCCEEDED = target(Event.SUCCEED).value


def attempt_params(
    lease: Lease, slot: WorkerId, started_at: datetime, outcome: Outcome, error: ErrorInfo | None
) -> dict[str, Any]:
    """The fence (the lease's job, owner and attempt) and the attempt's record."""
    return {
        "job_id": uuid.UUID(lease.job_id),
        "owner": lease.owner,
        "attempt": lease.attempt,
        "slot": slot,
        "started_at": started_at,
        "outcome": outcome.value,
        "error": None if error is None else dumps(error.to_dict(), what="error"),
    }


class PostgresOutcomes:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        jobs, attempts = ctx.tables.jobs, ctx.tables.attempts
        # Many successes in one statement: the fence is the join with the acknowledged leases,
        # which arrive as one JSON array of [id, owner, attempt, slot, started_at, result].
        # Rows are locked in id order first, as by every statement that changes several jobs
        # (heartbeat, release_many): two of them running at once then cannot deadlock.
        self._complete_many = f"""
            WITH acks AS (
                SELECT (a.v->>0)::uuid AS id, a.v->>1 AS owner, (a.v->>2)::int AS attempt,
                       a.v->>3 AS slot, (a.v->>4)::timestamptz AS started_at,
                       (a.v->>5)::json AS result
                FROM jsonb_array_elements(%(acks)s::jsonb) AS a(v)
            ), locked AS (
                SELECT j.id, j.worker_id, j.attempt FROM {jobs} AS j JOIN acks
                    ON j.id = acks.id AND j.worker_id = acks.owner AND j.attempt = acks.attempt
                WHERE j.status = '{RUNNING}'
                ORDER BY j.id FOR UPDATE OF j
            ), changed AS (
                UPDATE {jobs}
                SET status = '{SUCCEEDED}', result = acks.result,
                    started_at = acks.started_at, finished_at = {NOW}, lease_expires_at = NULL
                FROM acks JOIN locked ON locked.id = acks.id AND locked.worker_id = acks.owner
                                     AND locked.attempt = acks.attempt
                WHERE {jobs}.id = locked.id
                RETURNING {jobs}.id, acks.attempt, acks.slot, acks.started_at
            ), recorded AS (
                INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at,
                                        outcome, error)
                SELECT id, attempt, slot, started_at, {NOW}, '{Outcome.SUCCEEDED.value}', NULL
                FROM changed
            )
            SELECT id FROM changed"""
        self._fail = f"""
            WITH changed AS (
                UPDATE {jobs}
                SET status = %(status)s::text, run_at = COALESCE(%(retry_at)s::timestamptz, run_at),
                    last_error = %(error)s::json, dead_reason = %(dead_reason)s::text,
                    started_at = %(started_at)s, lease_expires_at = NULL,
                    finished_at = CASE WHEN %(status)s::text = '{JobState.DEAD.value}'
                                       THEN {NOW} END
                WHERE {FENCE}
                RETURNING id
            ) {record_attempt(attempts)}"""
        self._release = f"""
            WITH changed AS (
                UPDATE {jobs} {RELEASE_SET} WHERE {FENCE} RETURNING id, queue
            ), recorded AS ({record_attempt(attempts)} RETURNING 1)
            SELECT queue FROM changed"""
        self._progress = f"""
            UPDATE {jobs} SET progress = %(progress)s, progress_message = %(message)s
            WHERE {FENCE}"""

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        if not completions:
            return set()
        acks = [
            [
                c.lease.job_id,
                c.lease.owner,
                c.lease.attempt,
                c.slot,
                c.started_at.isoformat(),
                c.result,
            ]
            for c in first_per_job(completions)
        ]
        params = {"acks": compact(acks), "now": self._ctx.now()}
        return {JobId(str(row[0])) for row in await self._ctx.db.fetch(self._complete_many, params)}

    async def fail(self, failure: Failure) -> bool:
        status, reason = failure_state(failure)
        params = {
            **attempt_params(
                failure.lease, failure.slot, failure.started_at, Outcome.FAILED, failure.error
            ),
            "status": status.value,
            "retry_at": failure.retry_at,
            "dead_reason": None if reason is None else reason.value,
            "now": self._ctx.now(),
        }
        return await self._ctx.db.changed(self._fail, params)

    async def release(self, lease: Lease, *, slot: WorkerId, started_at: datetime) -> bool:
        params = {
            **attempt_params(lease, slot, started_at, Outcome.INTERRUPTED, None),
            "now": self._ctx.now(),
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            rows = await (await conn.execute(self._release, params)).fetchall()
            await self._ctx.tables.notify(conn, {row[0] for row in rows})
            return bool(rows)

        return await self._ctx.db.run(run)

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        params = {
            "job_id": uuid.UUID(lease.job_id),
            "owner": lease.owner,
            "attempt": lease.attempt,
            "progress": fraction,
            "message": message,
        }
        return await self._ctx.db.changed(self._progress, params)
