"""What an operator may change on SQLite: cancel a waiting job, retry an ended one."""

from __future__ import annotations

import sqlite3

from jobq.domain.ids import JobId
from jobq.domain.job import Job
from jobq.domain.states import Event, sources, sql_in, target
from jobq.store.common import JOB_COLUMNS, refusal
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.rows import READ

CANCEL = f"""
UPDATE jobs SET status = '{target(Event.CANCEL).value}', finished_at = :now,
                lease_expires_at = NULL
WHERE id = :id AND status IN {sql_in(sources(Event.CANCEL))}
RETURNING {JOB_COLUMNS}"""

# Give a job that used up its attempts one more; keep its history in `attempts`.
RETRY = f"""
UPDATE jobs SET status = '{target(Event.RETRY).value}', run_at = :now,
                max_attempts = MAX(max_attempts, attempt + 1), dead_reason = NULL,
                finished_at = NULL, worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND status IN {sql_in(sources(Event.RETRY))}
RETURNING {JOB_COLUMNS}"""


class SQLiteAdmin:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def cancel(self, job_id: JobId) -> Job:
        return await self._change(job_id, Event.CANCEL, CANCEL)

    async def retry(self, job_id: JobId) -> Job:
        return await self._change(job_id, Event.RETRY, RETRY)

    async def _change(self, job_id: JobId, event: Event, sql: str) -> Job:
        params = {"id": job_id, "now": self._db.now()}

        def run(conn: sqlite3.Connection) -> Job:
            row = conn.execute(sql, params).fetchone()
            if row is not None:
                return READ.job(row)
            state = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            raise refusal(job_id, None if state is None else state[0], event)

        return await self._db.writer.write(run)
