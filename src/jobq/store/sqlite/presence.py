"""Worker pools reporting themselves on SQLite (the ``processes`` table)."""

from __future__ import annotations

import sqlite3

from jobq.domain.ids import PoolId
from jobq.domain.job import ProcessInfo
from jobq.store.common import process_row
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.rows import to_us

#: a pool silent this long (microseconds) is forgotten
FORGOTTEN_AFTER_US = 3600 * 1_000_000

REPORT = """
INSERT INTO processes (id, host, pid, workers, busy, buffered, queues, types, started_at,
                       seen_at)
VALUES (:id, :host, :pid, :workers, :busy, :buffered, :queues, :types, :started_at, :now)
ON CONFLICT (id) DO UPDATE SET workers = excluded.workers, busy = excluded.busy,
    buffered = excluded.buffered, queues = excluded.queues, types = excluded.types,
    seen_at = excluded.seen_at
"""


class SQLitePresence:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def report(self, info: ProcessInfo) -> None:
        now = self._db.now()
        params = {
            **process_row(info, to_us),
            "now": now,
        }

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(REPORT, params)
            conn.execute("DELETE FROM processes WHERE seen_at < ?", (now - FORGOTTEN_AFTER_US,))

        await self._db.writer.write(run)

    async def forget(self, pool: PoolId) -> None:
        await self._db.writer.write(
            lambda conn: conn.execute("DELETE FROM processes WHERE id = ?", (pool,))
        )
