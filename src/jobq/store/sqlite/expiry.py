"""Leases that ran out, on SQLite: each job gets another attempt, or is dead (``worker_lost``)
on its last; the lost attempt is recorded."""

from __future__ import annotations

import sqlite3

from jobq.domain.ids import JobId, PoolId
from jobq.domain.job import WORKER_LOST_ERROR, DeadReason, Lease, Outcome
from jobq.domain.jsonvalues import dumps
from jobq.domain.states import Event, target
from jobq.store.records import Expired
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import FENCE, RUNNING, attempt_row, end_attempt

EXPIRED = f"""
SELECT id, worker_id, attempt, max_attempts, started_at, queue, type FROM jobs
WHERE status = '{RUNNING}' AND lease_expires_at < ?
"""

REQUEUE = f"""
UPDATE jobs SET status = :status, worker_id = NULL, lease_expires_at = NULL, last_error = :error,
                dead_reason = :dead_reason, finished_at = CASE WHEN :last THEN :now END
WHERE {FENCE}
"""


class SQLiteExpiry:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def requeue_expired(self) -> list[Expired]:
        now = self._db.now()
        error = dumps(WORKER_LOST_ERROR.to_dict(), what="error")

        def run(conn: sqlite3.Connection) -> list[Expired]:
            found = []
            for job_id, owner, attempt, max_attempts, started_at, queue, job_type in conn.execute(
                EXPIRED, (now,)
            ).fetchall():
                lease = Lease(JobId(job_id), PoolId(owner), attempt)
                last = attempt >= max_attempts
                status = target(Event.EXPIRE_DEAD if last else Event.EXPIRE)
                params = {
                    "job_id": job_id,
                    "owner": owner,
                    "attempt": attempt,
                    "status": status.value,
                    "error": error,
                    "last": last,
                    "now": now,
                    "dead_reason": DeadReason.WORKER_LOST.value if last else None,
                }
                # the lost attempt ran on some worker of the pool: the pool is all we know
                record = attempt_row(lease, owner, started_at, now, Outcome.LOST, error)
                if end_attempt(conn, REQUEUE, params, record):
                    found.append(
                        Expired(lease.job_id, lease.owner, attempt, status, queue, job_type)
                    )
            return found

        return await self._db.writer.write(run)
