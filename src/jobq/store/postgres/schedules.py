"""Schedules made at run time, on PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from jobq.domain.errors import ScheduleConflict
from jobq.domain.schedule import Schedule, StoredSchedule
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW
from jobq.store.schedule_rows import COLUMNS, read, values

_FIELDS = ("name", "job_type", "cron", "timezone", "payload", "queue", "priority", "missed",
           "catch_up")  # fmt: skip


def _params(schedule: Schedule, now: datetime | None) -> dict[str, Any]:
    return {**dict(zip(_FIELDS, values(schedule), strict=True)), "now": now}


def _when(value: datetime) -> datetime:
    return value


class PostgresSchedules:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        schedules, ticks = ctx.tables.schedules, ctx.tables.ticks
        self._add = f"""
            INSERT INTO {schedules} ({COLUMNS})
            VALUES (%(name)s, %(job_type)s, %(cron)s, %(timezone)s, %(payload)s::json, %(queue)s,
                    %(priority)s, %(missed)s, %(catch_up)s, {NOW}, {NOW})
            ON CONFLICT (name) DO NOTHING
            RETURNING {COLUMNS}"""
        self._replace = f"""
            UPDATE {schedules}
            SET job_type = %(job_type)s, cron = %(cron)s, timezone = %(timezone)s,
                payload = %(payload)s::json, queue = %(queue)s, priority = %(priority)s,
                missed = %(missed)s, catch_up = %(catch_up)s, updated_at = {NOW}
            WHERE name = %(name)s
            RETURNING {COLUMNS}"""
        # its ticks start afresh (a record left by an earlier one of its name)
        self._fresh_ticks = f"""
            INSERT INTO {ticks} AS t (schedule, tick, paused)
            VALUES (%(name)s, {NOW}, %(paused)s)
            ON CONFLICT (schedule) DO UPDATE
                SET tick = EXCLUDED.tick, paused = EXCLUDED.paused, job_id = NULL,
                    fired_at = NULL"""
        self._all = f"SELECT {COLUMNS} FROM {schedules} ORDER BY name"
        self._get = f"SELECT {COLUMNS} FROM {schedules} WHERE name = %(name)s"
        self._forget_ticks = f"DELETE FROM {ticks} WHERE schedule = %(name)s"
        self._remove = f"DELETE FROM {schedules} WHERE name = %(name)s"

    async def add(self, schedule: Schedule, *, paused: bool = False) -> StoredSchedule:
        params = {**_params(schedule, self._ctx.now()), "paused": paused}

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = conn.cursor(row_factory=tuple_row)
            rows = await (await cursor.execute(self._add, params)).fetchall()
            if rows:
                await cursor.execute(self._fresh_ticks, params)
            return rows

        rows = await self._ctx.db.run(run)
        if not rows:
            raise ScheduleConflict(f"a schedule named {schedule.name!r} exists already")
        return read(rows, _when)[0]

    async def replace(self, schedule: Schedule) -> StoredSchedule | None:
        found = read(
            await self._ctx.db.fetch(self._replace, _params(schedule, self._ctx.now())), _when
        )
        return found[0] if found else None

    async def all(self) -> list[StoredSchedule]:
        return read(await self._ctx.db.fetch(self._all, {}), _when)

    async def get(self, name: str) -> StoredSchedule | None:
        found = read(await self._ctx.db.fetch(self._get, {"name": name}), _when)
        return found[0] if found else None

    async def remove(self, name: str) -> bool:
        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = conn.cursor(row_factory=tuple_row)
            await cursor.execute(self._forget_ticks, {"name": name})
            await cursor.execute(self._remove, {"name": name})
            return cursor.rowcount > 0

        return await self._ctx.db.run(run)
