"""Retention on SQLite: finished jobs deleted in small batches, each one short write
transaction (claims wait for it at most one batch), and the types' own retention.

The pages a batch frees go to the file's free list, and new jobs are written into them: the
file stops growing once deletions keep up with enqueues (it does not shrink; ``VACUUM`` by hand
gives the space back)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Collection, Mapping

from jobq.domain.retention import Keep
from jobq.domain.states import JobState
from jobq.store.sqlite.database import Database

_US = 1_000_000

# The next type after ?2 among the jobs finished in ?1, one step of the jobs_finished index each
# (a recursive walk: the types, never the jobs).
FINISHED_TYPES = """
WITH RECURSIVE walk(type) AS (
    SELECT (SELECT min(type) FROM jobs WHERE status = ?1 AND finished_at IS NOT NULL)
    UNION ALL
    SELECT (SELECT min(type) FROM jobs
            WHERE status = ?1 AND finished_at IS NOT NULL AND type > walk.type)
    FROM walk WHERE walk.type IS NOT NULL
)
SELECT type FROM walk WHERE type IS NOT NULL
"""
_DUE = "status = ?1 AND type = ?2 AND finished_at IS NOT NULL AND finished_at < ?3"
# The attempts go with their job (ON DELETE CASCADE).
PRUNE = f"""
DELETE FROM jobs WHERE rowid IN (
    SELECT rowid FROM jobs WHERE {_DUE} ORDER BY finished_at LIMIT ?4
)
RETURNING queue
"""
COUNT = f"SELECT count(*) FROM jobs WHERE {_DUE}"
FORGET = "DELETE FROM type_retention WHERE type = ?"
DECLARE = """
INSERT INTO type_retention (type, status, seconds) VALUES (?, ?, ?)
ON CONFLICT (type, status) DO UPDATE SET seconds = excluded.seconds
"""
DECLARED = "SELECT type, status, seconds FROM type_retention ORDER BY type, status"


class SQLiteRetention:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def finished_types(self, state: JobState) -> list[str]:
        def run(conn: sqlite3.Connection) -> list[str]:
            return [name for (name,) in conn.execute(FINISHED_TYPES, (state.value,))]

        return await self._db.reader.read(run)

    async def prune(
        self, state: JobState, job_type: str, older_than: float, *, limit: int
    ) -> dict[str, int]:
        params = (state.value, job_type, self._before(older_than), limit)

        def run(conn: sqlite3.Connection) -> dict[str, int]:
            return dict(Counter(queue for (queue,) in conn.execute(PRUNE, params)))

        return await self._db.writer.write(run)

    async def count_prunable(self, state: JobState, job_type: str, older_than: float) -> int:
        params = (state.value, job_type, self._before(older_than))

        def run(conn: sqlite3.Connection) -> int:
            [count] = conn.execute(COUNT, params).fetchone()
            return int(count)

        return await self._db.reader.read(run)

    async def publish(
        self, handled: Collection[str], own: Mapping[str, Mapping[JobState, Keep]]
    ) -> None:
        rows = [
            (job_type, state.value, keep)
            for job_type, times in own.items()
            for state, keep in times.items()
        ]
        forget = [(job_type,) for job_type in {*handled, *own}]

        def run(conn: sqlite3.Connection) -> None:
            conn.executemany(FORGET, forget)
            conn.executemany(DECLARE, rows)

        await self._db.writer.write(run)

    async def declared(self) -> dict[str, dict[JobState, Keep]]:
        def run(conn: sqlite3.Connection) -> dict[str, dict[JobState, Keep]]:
            found: dict[str, dict[JobState, Keep]] = {}
            for job_type, state, seconds in conn.execute(DECLARED):
                found.setdefault(job_type, {})[JobState(state)] = seconds
            return found

        return await self._db.reader.read(run)

    def _before(self, older_than: float) -> int:
        return self._db.now() - round(older_than * _US)
