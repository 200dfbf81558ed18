"""The ticks of periodic jobs on PostgreSQL: the tick's record and its job in one transaction.

Processes that fire the same tick at once meet on the schedule's row: the upsert of the second
waits for the first's transaction, then finds the row at that tick and changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from jobq.domain.job import EnqueueResult, NewJob
from jobq.domain.schedule import TickRecord
from jobq.store.postgres.context import Context
from jobq.store.postgres.enqueue import PostgresEnqueuer
from jobq.store.postgres.sql import NOW


class PostgresTicks:
    def __init__(self, ctx: Context, enqueuer: PostgresEnqueuer) -> None:
        self._ctx = ctx
        self._enqueuer = enqueuer
        ticks = ctx.tables.ticks
        # a stored schedule's version must still be the stored one (not changed or removed)
        current = f"""(%(version)s::timestamptz IS NULL OR EXISTS (
            SELECT 1 FROM {ctx.tables.schedules} AS s
            WHERE s.name = %(schedule)s AND s.updated_at = %(version)s::timestamptz))"""
        self._advance = f"""
            INSERT INTO {ticks} AS t (schedule, tick, fired_at)
            SELECT %(schedule)s, %(tick)s, {NOW} WHERE {current}
            ON CONFLICT (schedule) DO UPDATE
                SET tick = EXCLUDED.tick, fired_at = EXCLUDED.fired_at, job_id = NULL
                WHERE EXCLUDED.tick > t.tick AND NOT t.paused AND {current}
            RETURNING schedule"""
        # pausing and resuming pass over the ticks up to now (resuming makes no job for them)
        self._set_paused = f"""
            INSERT INTO {ticks} AS t (schedule, tick, paused)
            VALUES (%(schedule)s, {NOW}, %(paused)s)
            ON CONFLICT (schedule) DO UPDATE
                SET paused = EXCLUDED.paused, tick = greatest(t.tick, EXCLUDED.tick)"""
        self._set_job = f"UPDATE {ticks} SET job_id = %(job_id)s WHERE schedule = %(schedule)s"
        self._last = f"SELECT schedule, tick, job_id, fired_at, paused FROM {ticks}"
        self._forget = f"DELETE FROM {ticks} WHERE schedule = %(schedule)s"

    async def fire(
        self, schedule: str, tick: datetime, job: NewJob, *, version: datetime | None = None
    ) -> EnqueueResult | None:
        params: dict[str, Any] = {
            "schedule": schedule,
            "tick": tick,
            "now": self._ctx.now(),
            "version": version,
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> EnqueueResult | None:
            cursor = conn.cursor(row_factory=tuple_row)
            if await (await cursor.execute(self._advance, params)).fetchone() is None:
                return None
            [result] = await self._enqueuer.insert(conn, [job], commit=False)
            await cursor.execute(self._set_job, {"job_id": result.job.id, "schedule": schedule})
            return result

        return await self._ctx.db.run(run)

    async def last(self) -> dict[str, TickRecord]:
        rows = await self._ctx.db.fetch(self._last, {})
        return {
            name: TickRecord(name, tick, None if job_id is None else str(job_id), fired_at, paused)
            for name, tick, job_id, fired_at, paused in rows
        }

    async def set_paused(self, schedule: str, paused: bool) -> None:
        params = {"schedule": schedule, "paused": paused, "now": self._ctx.now()}
        await self._ctx.db.fetch(self._set_paused + " RETURNING schedule", params)

    async def forget(self, schedule: str) -> bool:
        return await self._ctx.db.changed(self._forget, {"schedule": schedule})
