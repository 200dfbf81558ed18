"""Reads on PostgreSQL, each one statement (one snapshot) on a pooled connection."""

from __future__ import annotations

from typing import Any

from jobq.domain.errors import InvalidJob
from jobq.domain.ids import JobId
from jobq.domain.job import (
    Attempt,
    Job,
    MinuteCount,
    Outcome,
    ProcessInfo,
    QueueCount,
    WaitingCount,
)
from jobq.domain.states import JobState
from jobq.store.claim import CLAIMABLE
from jobq.store.common import ATTEMPT_COLUMNS, PROCESS_COLUMNS, filter_values
from jobq.store.postgres.context import Context
from jobq.store.postgres.rows import READ, as_uuid, columns
from jobq.store.postgres.sql import NOW, RUNNING
from jobq.store.records import JobFilter, Page


class PostgresReads:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        jobs, attempts = ctx.tables.jobs, ctx.tables.attempts
        self._columns = columns(jobs)
        self._get = f"SELECT {self._columns} FROM {jobs} WHERE id = %(id)s"
        # One statement, one snapshot: an attempt that ends meanwhile is in one half or the
        # other. (The running attempt is recorded only when it ends.)
        self._attempts = f"""
            SELECT {ATTEMPT_COLUMNS}, seq FROM {attempts} WHERE job_id = %(id)s
            UNION ALL
            SELECT id, attempt, worker_id, started_at, NULL, NULL, NULL, NULL
            FROM {jobs} WHERE id = %(id)s AND status = '{RUNNING}'
            ORDER BY seq NULLS LAST"""
        # kept by triggers as jobs change (schema 8), in shards: a few rows, however many jobs
        self._counts = f"""
            SELECT queue, status, sum(n)::bigint FROM {ctx.tables.counts}
            GROUP BY queue, status HAVING sum(n) <> 0 ORDER BY queue, status"""
        self._processes = f"""
            SELECT {PROCESS_COLUMNS} FROM {ctx.tables.processes}
            WHERE seen_at >= {NOW} - %(max_age)s::float8 * interval '1 second'
            ORDER BY host, pid, id"""
        self._throughput = f"""
            SELECT date_trunc('minute', finished_at), outcome, count(*) FROM {attempts}
            WHERE finished_at >= date_trunc('minute', {NOW})
                                 - (%(minutes)s::int - 1) * interval '1 minute'
            GROUP BY 1, 2 ORDER BY 1, 2"""
        self._oldest_waiting_age = f"""
            SELECT extract(epoch FROM {NOW} - min(run_at))::float8 FROM {jobs}
            WHERE status IN {CLAIMABLE} AND run_at <= {NOW}"""
        self._waiting = f"""
            SELECT queue, type, count(*), min(run_at) FROM {jobs}
            WHERE status IN {CLAIMABLE} AND run_at <= {NOW}
            GROUP BY queue, type ORDER BY 1, 2"""

    async def get(self, job_id: JobId) -> Job | None:
        key = as_uuid(job_id)
        if key is None:
            return None
        rows = await self._ctx.db.fetch(self._get, {"id": key})
        return READ.job(rows[0]) if rows else None

    async def attempts(self, job_id: JobId) -> list[Attempt]:
        key = as_uuid(job_id)
        if key is None:
            return []
        rows = await self._ctx.db.fetch(self._attempts, {"id": key})
        return [READ.attempt(row[:7]) for row in rows]

    async def list_jobs(self, where: JobFilter, *, limit: int, after: JobId | None = None) -> Page:
        pairs = filter_values(where)
        if any("\x00" in value for _, value in pairs):
            return Page([], None)  # no name holds NUL (and PostgreSQL text cannot)
        conditions = [f"{column} = %({column})s" for column, _ in pairs]
        params: dict[str, Any] = dict(pairs)
        params["limit"] = limit + 1
        if after is not None:
            key = as_uuid(after)
            if key is None:
                raise InvalidJob(f"not a job id: {after!r}")
            conditions.append("id < %(after)s")
            params["after"] = key
        rows = await self._ctx.db.fetch(self.list_sql(conditions), params)
        return Page.of([READ.job(row) for row in rows], limit)

    def list_sql(self, conditions: list[str]) -> str:
        """A page of jobs meeting every one of ``conditions``, newest first."""
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"SELECT {self._columns} FROM {self._ctx.tables.jobs}{where} "
            "ORDER BY id DESC LIMIT %(limit)s"
        )

    async def counts(self) -> list[QueueCount]:
        rows = await self._ctx.db.fetch(self._counts, {})
        return [QueueCount(queue, JobState(status), n) for queue, status, n in rows]

    async def processes(self, *, max_age: float) -> list[ProcessInfo]:
        rows = await self._ctx.db.fetch(
            self._processes, {"max_age": max_age, "now": self._ctx.now()}
        )
        return [READ.process(row) for row in rows]

    async def throughput(self, *, minutes: int) -> list[MinuteCount]:
        params = {"minutes": minutes, "now": self._ctx.now()}
        rows = await self._ctx.db.fetch(self._throughput, params)
        return [MinuteCount(READ.time(minute), Outcome(outcome), n) for minute, outcome, n in rows]

    async def oldest_waiting_age(self) -> float | None:
        [(age,)] = await self._ctx.db.fetch(self._oldest_waiting_age, {"now": self._ctx.now()})
        return None if age is None else float(age)

    async def waiting(self) -> list[WaitingCount]:
        rows = await self._ctx.db.fetch(self._waiting, {"now": self._ctx.now()})
        return [
            WaitingCount(queue, job_type, n, READ.time(since)) for queue, job_type, n, since in rows
        ]
