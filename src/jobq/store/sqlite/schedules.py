"""Schedules made at run time, on SQLite."""

from __future__ import annotations

import sqlite3
from typing import Any

from jobq.domain.errors import ScheduleConflict
from jobq.domain.schedule import Schedule, StoredSchedule
from jobq.store.schedule_rows import COLUMNS, read, values
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.rows import from_us

ADD = f"""
INSERT INTO schedules ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (name) DO NOTHING
RETURNING {COLUMNS}
"""
FRESH_TICKS = """
INSERT INTO schedule_ticks (schedule, tick, paused) VALUES (?1, ?2, ?3)
ON CONFLICT (schedule) DO UPDATE SET tick = excluded.tick, paused = excluded.paused,
                                     job_id = NULL, fired_at = NULL
"""
REPLACE = f"""
UPDATE schedules SET job_type = ?2, cron = ?3, timezone = ?4, payload = ?5, queue = ?6,
                     priority = ?7, missed = ?8, catch_up = ?9, updated_at = ?10
WHERE name = ?1
RETURNING {COLUMNS}
"""


class SQLiteSchedules:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, schedule: Schedule, *, paused: bool = False) -> StoredSchedule:
        now = self._db.now()
        row = (*values(schedule), now, now)

        def run(conn: sqlite3.Connection) -> list[Any]:
            rows = conn.execute(ADD, row).fetchall()
            if rows:  # its ticks start afresh (a record left by an earlier one of its name)
                conn.execute(FRESH_TICKS, (schedule.name, now, int(paused)))
            return rows

        rows = await self._db.writer.write(run)
        if not rows:
            raise ScheduleConflict(f"a schedule named {schedule.name!r} exists already")
        return read(rows, from_us)[0]

    async def replace(self, schedule: Schedule) -> StoredSchedule | None:
        row = (*values(schedule), self._db.now())
        rows = await self._db.writer.write(lambda conn: conn.execute(REPLACE, row).fetchall())
        found = read(rows, from_us)
        return found[0] if found else None

    async def all(self) -> list[StoredSchedule]:
        def run(conn: sqlite3.Connection) -> list[StoredSchedule]:
            return read(conn.execute(f"SELECT {COLUMNS} FROM schedules ORDER BY name"), from_us)

        return await self._db.reader.read(run)

    async def get(self, name: str) -> StoredSchedule | None:
        def run(conn: sqlite3.Connection) -> list[StoredSchedule]:
            rows = conn.execute(f"SELECT {COLUMNS} FROM schedules WHERE name = ?", (name,))
            return read(rows, from_us)

        found = await self._db.reader.read(run)
        return found[0] if found else None

    async def remove(self, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute("DELETE FROM schedule_ticks WHERE schedule = ?", (name,))
            return conn.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount > 0

        return await self._db.writer.write(run)
