"""The end of an attempt on SQLite: succeeded, failed, handed back; and progress on the way.
Each is a fenced update and, if it matched, the attempt's record (``fence.py``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Lease, Outcome
from jobq.domain.jsonvalues import dumps
from jobq.domain.states import Event, JobState, target
from jobq.store.common import failure_state
from jobq.store.records import Completion, Failure, first_per_job
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import FENCE, RELEASE_SET, RUNNING, attempt_row, end_attempt, fence
from jobq.store.sqlite.rows import to_us

# Many successes in two statements however many there are (a statement per job would each
# take its turn at the GIL while the write lock is held). The acknowledged leases arrive as one
# JSON array of [id, owner, attempt, slot, started_at, result]; the fence is the join with it.
# The attempts are recorded first, for the acks whose fence holds, then those jobs change: both
# statements run under one write lock, so they see the same jobs. Each ack finds its job by id
# (``+`` keeps the planner off the status index: it would walk every running job per ack).
ACKS = """
SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS owner,
       json_extract(value, '$[2]') AS attempt, json_extract(value, '$[3]') AS slot,
       json_extract(value, '$[4]') AS started_at, json_extract(value, '$[5]') AS result
FROM json_each(:acks)
"""
ACKED = f"""
jobs.id = acks.id AND jobs.worker_id = acks.owner AND jobs.attempt = acks.attempt
AND +jobs.status = '{RUNNING}'
"""
RECORD_SUCCESSES = f"""
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
SELECT acks.id, acks.attempt, acks.slot, acks.started_at, :now, '{Outcome.SUCCEEDED.value}', NULL
FROM ({ACKS}) AS acks CROSS JOIN jobs ON {ACKED}
"""
COMPLETE = f"""
UPDATE jobs
SET status = '{target(Event.SUCCEED).value}', result = acks.result,
    started_at = acks.started_at, finished_at = :now, lease_expires_at = NULL
FROM ({ACKS}) AS acks
WHERE {ACKED}
RETURNING jobs.id
"""

FAIL = f"""
UPDATE jobs
SET status = :status, run_at = COALESCE(:retry_at, run_at), last_error = :error,
    dead_reason = :dead_reason, started_at = :started_at, lease_expires_at = NULL,
    finished_at = CASE WHEN :status = '{JobState.DEAD.value}' THEN :now END
WHERE {FENCE}
"""

RELEASE = f"UPDATE jobs {RELEASE_SET} WHERE {FENCE}"

PROGRESS = f"UPDATE jobs SET progress = :progress, progress_message = :message WHERE {FENCE}"


class SQLiteOutcomes:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        if not completions:
            return set()
        acks = [
            [c.lease.job_id, c.lease.owner, c.lease.attempt, c.slot, to_us(c.started_at), c.result]
            for c in first_per_job(completions)
        ]
        params = {"acks": dumps(acks, what="acknowledgements"), "now": self._db.now()}

        def run(conn: sqlite3.Connection) -> list[tuple[str]]:
            conn.execute(RECORD_SUCCESSES, params)
            return conn.execute(COMPLETE, params).fetchall()

        return {JobId(job_id) for (job_id,) in await self._db.writer.write(run)}

    async def fail(self, failure: Failure) -> bool:
        now = self._db.now()
        status, reason = failure_state(failure)
        retry_at = failure.retry_at
        params = {
            **fence(failure.lease),
            "status": status.value,
            "retry_at": None if retry_at is None else to_us(retry_at),
            "error": dumps(failure.error.to_dict(), what="error"),
            "dead_reason": None if reason is None else reason.value,
            "started_at": to_us(failure.started_at),
            "now": now,
        }
        attempt = attempt_row(
            failure.lease, failure.slot, failure.started_at, now, Outcome.FAILED, failure.error
        )
        return await self._end(FAIL, params, attempt)

    async def release(self, lease: Lease, *, slot: WorkerId, started_at: datetime) -> bool:
        attempt = attempt_row(lease, slot, started_at, self._db.now(), Outcome.INTERRUPTED, None)
        return await self._end(RELEASE, fence(lease), attempt)

    async def _end(self, sql: str, params: dict[str, object], attempt: dict[str, object]) -> bool:
        return await self._db.writer.write(lambda conn: end_attempt(conn, sql, params, attempt))

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        params = {**fence(lease), "progress": fraction, "message": message}
        return await self._db.writer.write(
            lambda conn: conn.execute(PROGRESS, params).rowcount == 1
        )
