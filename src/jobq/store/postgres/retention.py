"""Retention on PostgreSQL: finished jobs deleted in small batches, each one short
transaction, and the types' own retention.

Claims never touch finished jobs, so a batch holds up no claim. Pruners of several processes
take disjoint batches (``SKIP LOCKED``); a job retried by an operator while a batch is
deleted is seen in its new state and kept. Autovacuum gives the dead rows' space back to new
jobs (docs/deployment.md says how to size it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any

import psycopg

from jobq.domain.retention import Keep
from jobq.domain.states import JobState
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW


class PostgresRetention:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        jobs, declared = ctx.tables.jobs, ctx.tables.retention
        # The next type after the last among the jobs finished in a state, one step of the
        # jobs_finished index each (a recursive walk: the types, never the jobs).
        self._types = f"""
            WITH RECURSIVE walk(type) AS (
                SELECT (SELECT min(type) FROM {jobs}
                        WHERE status = %(state)s AND finished_at IS NOT NULL)
                UNION ALL
                SELECT (SELECT min(type) FROM {jobs}
                        WHERE status = %(state)s AND finished_at IS NOT NULL
                          AND type > walk.type)
                FROM walk WHERE walk.type IS NOT NULL
            )
            SELECT type FROM walk WHERE type IS NOT NULL"""
        due = f"""status = %(state)s AND type = %(type)s AND finished_at IS NOT NULL
                  AND finished_at < {NOW} - %(age)s::float8 * interval '1 second'"""
        # The attempts go with their job (ON DELETE CASCADE). The batch is read once (an IN
        # (subquery) may run its LIMIT again per row) and locked until it is deleted; FOR
        # UPDATE checks the condition again on a row changed since it was read: a job an
        # operator retried meanwhile is kept.
        self._prune = f"""
            WITH doomed AS MATERIALIZED (
                SELECT id FROM {jobs} WHERE {due}
                ORDER BY finished_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            )
            DELETE FROM {jobs} AS j USING doomed WHERE j.id = doomed.id
            RETURNING j.queue"""
        self._count = f"SELECT count(*) FROM {jobs} WHERE {due}"
        self._forget = f"DELETE FROM {declared} WHERE type = ANY(%(types)s::text[])"
        self._declare = f"""
            INSERT INTO {declared} (type, status, seconds)
            SELECT * FROM unnest(%(types)s::text[], %(states)s::text[], %(seconds)s::float8[])
            ON CONFLICT (type, status) DO UPDATE SET seconds = EXCLUDED.seconds"""
        self._declared = f"SELECT type, status, seconds FROM {declared} ORDER BY type, status"

    async def finished_types(self, state: JobState) -> list[str]:
        rows = await self._ctx.db.fetch(self._types, {"state": state.value})
        return [name for (name,) in rows]

    async def prune(
        self, state: JobState, job_type: str, older_than: float, *, limit: int
    ) -> dict[str, int]:
        params = self._params(state, job_type, older_than) | {"limit": limit}
        rows = await self._ctx.db.fetch(self._prune, params)
        return dict(Counter(queue for (queue,) in rows))

    async def count_prunable(self, state: JobState, job_type: str, older_than: float) -> int:
        [(count,)] = await self._ctx.db.fetch(
            self._count, self._params(state, job_type, older_than)
        )
        return int(count)

    async def publish(
        self, handled: Collection[str], own: Mapping[str, Mapping[JobState, Keep]]
    ) -> None:
        rows = sorted(
            (job_type, state.value, keep)
            for job_type, times in own.items()
            for state, keep in times.items()
        )
        forget = sorted({*handled, *own})

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._forget, {"types": forget})
            if rows:
                types, states, seconds = (list(column) for column in zip(*rows, strict=True))
                await conn.execute(
                    self._declare, {"types": types, "states": states, "seconds": seconds}
                )

        await self._ctx.db.run(run)

    async def declared(self) -> dict[str, dict[JobState, Keep]]:
        found: dict[str, dict[JobState, Keep]] = {}
        for job_type, state, seconds in await self._ctx.db.fetch(self._declared, {}):
            found.setdefault(job_type, {})[JobState(state)] = seconds
        return found

    def _params(self, state: JobState, job_type: str, older_than: float) -> dict[str, Any]:
        return {"state": state.value, "type": job_type, "age": older_than, "now": self._ctx.now()}
