"""Paused queues on SQLite: a row each in ``queue_pauses``, which the claim statement reads
under the same write lock (a claim after ``pause`` returns takes no job of the queue)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from jobq.domain.pauses import QueuePause
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.doorbell import Ringer
from jobq.store.sqlite.rows import from_us, to_us

PAUSE = """
INSERT INTO queue_pauses (queue, paused_at, until) VALUES (?1, ?2, ?3)
ON CONFLICT (queue) DO UPDATE SET
    paused_at = CASE WHEN until IS NULL OR until > ?2 THEN paused_at ELSE ?2 END,
    until = excluded.until
RETURNING queue, paused_at, until
"""
# (The pause's end is compared here, not in RETURNING: SQLite 3.40 evaluates `until IS NULL`
# there as 0 for a NULL it returns as NULL.)
RESUME = "DELETE FROM queue_pauses WHERE queue = ? RETURNING until"
PAUSES = """
SELECT queue, paused_at, until FROM queue_pauses WHERE until IS NULL OR until > ?1 ORDER BY queue
"""


def _pause(row: tuple[str, int, int | None]) -> QueuePause:
    queue, paused_at, until = row
    return QueuePause(queue, from_us(paused_at), None if until is None else from_us(until))


class SQLiteQueueControl:
    def __init__(self, db: Database, ringer: Ringer) -> None:
        self._db = db
        self._ringer = ringer

    async def pause(self, queue: str, *, until: datetime | None) -> QueuePause:
        params = (queue, self._db.now(), None if until is None else to_us(until))

        def run(conn: sqlite3.Connection) -> tuple[str, int, int | None]:
            return conn.execute(PAUSE, params).fetchone()  # type: ignore[no-any-return]

        return _pause(await self._db.writer.write(run))

    async def resume(self, queue: str) -> bool:
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> bool:
            row = conn.execute(RESUME, (queue,)).fetchone()
            return row is not None and (row[0] is None or row[0] > now)

        held = await self._db.writer.write(run)
        self._ringer.ring()  # its jobs may be claimed now: wake the pools
        return held

    async def pauses(self) -> list[QueuePause]:
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> list[QueuePause]:
            return [_pause(row) for row in conn.execute(PAUSES, (now,))]

        return await self._db.reader.read(run)
