"""What an operator may change on SQLite: cancel a waiting or running job, retry an ended one."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from jobq.domain.ids import JobId
from jobq.domain.job import Job, Outcome
from jobq.domain.states import Event, JobState, sources, sql_in, target
from jobq.store.common import JOB_COLUMNS, refusal
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.doorbell import CANCEL_RING, Ringer
from jobq.store.sqlite.rows import READ

CANCEL = f"""
UPDATE jobs SET status = '{target(Event.CANCEL).value}', finished_at = :now,
                lease_expires_at = NULL
WHERE id = :id AND status IN {sql_in(sources(Event.CANCEL))}
  AND (:only_from IS NULL OR status = :only_from)
RETURNING {JOB_COLUMNS}"""

# A running job's attempt ends here: recorded before the job changes, under the same lock.
RECORD_CANCELLED_RUN = f"""
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
SELECT id, attempt, worker_id, started_at, :now, '{Outcome.CANCELLED.value}', NULL
FROM jobs WHERE id = :id AND status = '{JobState.RUNNING.value}'
  AND (:only_from IS NULL OR status = :only_from)"""

# Give a job that used up its attempts one more; keep its history in `attempts`.
RETRY = f"""
UPDATE jobs SET status = '{target(Event.RETRY).value}', run_at = :now,
                max_attempts = MAX(max_attempts, attempt + 1), dead_reason = NULL,
                finished_at = NULL, worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND status IN {sql_in(sources(Event.RETRY))}
RETURNING {JOB_COLUMNS}"""


class SQLiteAdmin:
    def __init__(self, db: Database, ringer: Ringer) -> None:
        self._db = db
        self._ringer = ringer

    async def cancel(self, job_id: JobId, *, only_from: JobState | None = None) -> Job:
        ran = False

        def record(conn: sqlite3.Connection, params: dict[str, object]) -> None:
            nonlocal ran
            params["only_from"] = None if only_from is None else only_from.value
            ran = conn.execute(RECORD_CANCELLED_RUN, params).rowcount == 1

        job = await self._change(job_id, Event.CANCEL, CANCEL, before=record)
        if ran:
            self._ringer.ring(CANCEL_RING)  # its pool stops the run
        return job

    async def retry(self, job_id: JobId) -> Job:
        return await self._change(job_id, Event.RETRY, RETRY)

    async def _change(
        self,
        job_id: JobId,
        event: Event,
        sql: str,
        *,
        before: Callable[[sqlite3.Connection, dict[str, object]], None] | None = None,
    ) -> Job:
        params: dict[str, object] = {"id": job_id, "now": self._db.now()}

        def run(conn: sqlite3.Connection) -> Job:
            if before is not None:
                before(conn, params)
            row = conn.execute(sql, params).fetchone()
            if row is not None:
                return READ.job(row)
            state = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            only_from = params.get("only_from")
            raise refusal(
                job_id,
                None if state is None else state[0],
                event,
                only_from=only_from if isinstance(only_from, str) else None,
            )

        return await self._db.writer.write(run)
