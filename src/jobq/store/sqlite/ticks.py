"""The ticks of periodic jobs on SQLite: the tick's record and its job in one transaction."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from jobq.domain.job import EnqueueResult, NewJob
from jobq.domain.schedule import TickRecord
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.enqueue import SQLiteEnqueuer
from jobq.store.sqlite.rows import from_us, to_us

# Moves the schedule's record forward to the tick, or changes nothing (and returns no row) if
# the record is at that tick or later already, or the schedule is paused, or (?4: a stored
# schedule's version) the stored schedule was changed or removed since the caller read it.
CURRENT = "(?4 IS NULL OR EXISTS (SELECT 1 FROM schedules WHERE name = ?1 AND updated_at = ?4))"
ADVANCE = f"""
INSERT INTO schedule_ticks (schedule, tick, fired_at) SELECT ?1, ?2, ?3 WHERE {CURRENT}
ON CONFLICT (schedule) DO UPDATE SET tick = excluded.tick, fired_at = excluded.fired_at,
                                     job_id = NULL
    WHERE excluded.tick > schedule_ticks.tick AND NOT schedule_ticks.paused AND {CURRENT}
RETURNING schedule
"""

# Pausing and resuming pass over the ticks up to now: resuming makes no job for the ticks
# of the pause, whatever the schedule's missed policy.
SET_PAUSED = """
INSERT INTO schedule_ticks (schedule, tick, paused) VALUES (?1, ?2, ?3)
ON CONFLICT (schedule) DO UPDATE SET paused = excluded.paused,
                                     tick = max(schedule_ticks.tick, excluded.tick)
"""

COLUMNS = "schedule, tick, job_id, fired_at, paused"


def record(row: tuple[str, int, str | None, int | None, int]) -> TickRecord:
    name, tick, job_id, fired_at, paused = row
    return TickRecord(
        name, from_us(tick), job_id, None if fired_at is None else from_us(fired_at), bool(paused)
    )


class SQLiteTicks:
    def __init__(self, db: Database, enqueuer: SQLiteEnqueuer) -> None:
        self._db = db
        self._enqueuer = enqueuer

    async def fire(
        self, schedule: str, tick: datetime, job: NewJob, *, version: datetime | None = None
    ) -> EnqueueResult | None:
        insert = self._enqueuer.inserter([job])
        row = (schedule, to_us(tick), self._db.now(), None if version is None else to_us(version))

        def run(conn: sqlite3.Connection) -> EnqueueResult | None:
            if conn.execute(ADVANCE, row).fetchone() is None:
                return None
            [result] = insert(conn)
            conn.execute(
                "UPDATE schedule_ticks SET job_id = ? WHERE schedule = ?", (result.job.id, schedule)
            )
            return result

        result = await self._db.writer.write(run)
        if result is not None:
            self._enqueuer.ring_for([result])
        return result

    async def last(self) -> dict[str, TickRecord]:
        def run(conn: sqlite3.Connection) -> dict[str, TickRecord]:
            rows = conn.execute(f"SELECT {COLUMNS} FROM schedule_ticks")
            return {row[0]: record(row) for row in rows}

        return await self._db.reader.read(run)

    async def set_paused(self, schedule: str, paused: bool) -> None:
        row = (schedule, self._db.now(), int(paused))
        await self._db.writer.write(lambda conn: conn.execute(SET_PAUSED, row))

    async def forget(self, schedule: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute("DELETE FROM schedule_ticks WHERE schedule = ?", (schedule,))
            return cursor.rowcount > 0

        return await self._db.writer.write(run)
