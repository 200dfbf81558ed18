"""Enqueue on SQLite: a batch in one INSERT, unpacked from one JSON array."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from jobq.domain.ids import new_job_id
from jobq.domain.job import EnqueueResult, Job, NewJob
from jobq.domain.jsonvalues import compact
from jobq.domain.states import JobState
from jobq.store.common import (
    JOB_COLUMNS,
    by_key,
    encode_payloads,
    enqueue_results,
    missing_keys,
    missing_unique_keys,
    new_job_rows,
    unique_replacements,
)
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.doorbell import Ringer
from jobq.store.sqlite.rows import READ, from_us, to_us

# The batch arrives as one JSON array of [id, queue, type, payload, priority, run_at,
# max_attempts, timeout, backoff, idempotency_key] rows; rows are inserted in their order, so a
# key repeated within the batch keeps its first job. ("WHERE true": SQLite's grammar needs it
# between INSERT ... SELECT and ON CONFLICT.)
INSERT_JOBS = f"""
INSERT INTO jobs (id, queue, type, payload, status, priority, run_at, attempt, max_attempts,
                  timeout, backoff, idempotency_key, created_at, unique_key, unique_states,
                  workflow_id, parents, waiting_on, on_dependency_failure)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       json_extract(value, '$[3]'),
       CASE WHEN json_extract(value, '$[13]') > 0 THEN '{JobState.WAITING.value}'
            ELSE '{JobState.PENDING.value}' END,
       json_extract(value, '$[4]'),
       json_extract(value, '$[5]'), 0, json_extract(value, '$[6]'), json_extract(value, '$[7]'),
       json_extract(value, '$[8]'), json_extract(value, '$[9]'), ?2,
       json_extract(value, '$[10]'), json_extract(value, '$[11]'),
       json_extract(value, '$[12]'), coalesce(json_extract(value, '$[13]'), 0),
       coalesce(json_extract(value, '$[13]'), 0), json_extract(value, '$[14]')
FROM json_each(?1) WHERE true ORDER BY key
ON CONFLICT DO NOTHING
RETURNING id
"""

BY_KEYS = f"""
SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key IN (SELECT value FROM json_each(?))
"""
# a pending holder of a unique key takes the payload and run time of the job that met it
REPLACE_PENDING = f"""
UPDATE jobs SET payload = ?2, run_at = ?3 WHERE id = ?1 AND status = '{JobState.PENDING.value}'
RETURNING {JOB_COLUMNS}
"""
# the unique jobs that hold these unique keys (the key first, then the job)
BY_UNIQUE_KEYS = f"""
SELECT unique_key, {JOB_COLUMNS} FROM jobs
WHERE unique_key IN (SELECT value FROM json_each(?))
"""


class SQLiteEnqueuer:
    def __init__(self, db: Database) -> None:
        self._db = db
        #: tells the database's listening processes of a job due now (``doorbell.py``)
        self.ringer = Ringer(db.path)

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        if not jobs:
            return []
        results = await self._db.writer.write(self.inserter(jobs))
        self.ring_for(results)
        return results

    def inserter(
        self, jobs: Sequence[NewJob], ids: Sequence[str] | None = None
    ) -> Callable[[sqlite3.Connection], list[EnqueueResult]]:
        """What inserts ``jobs`` on the writer's connection, in its transaction (encoded
        here, before the writer thread's turn); ``ids``: theirs, if already chosen."""
        now = self._db.now()
        ids = [new_job_id() for _ in jobs] if ids is None else list(ids)
        payloads = encode_payloads(jobs)
        run_ats = [now if job.run_at is None else to_us(job.run_at) for job in jobs]
        rows = new_job_rows(ids, jobs, payloads, run_ats)
        created = from_us(now)

        run_at_of = dict(zip(ids, run_ats, strict=True))

        def insert(conn: sqlite3.Connection) -> list[EnqueueResult]:
            inserted = {
                job_id: (from_us(run_at_of[job_id]), created)
                for (job_id,) in conn.execute(INSERT_JOBS, (rows, now))
            }
            keys = missing_keys(jobs, ids, inserted)
            existing: dict[str, Job] = {}
            if keys:  # idempotency keys that name jobs already (perhaps earlier in this batch)
                existing = by_key(map(READ.job, conn.execute(BY_KEYS, (compact(keys),))))
            unique = missing_unique_keys(jobs, ids, inserted, existing)
            holders: dict[str, Job] = {}
            if unique:  # unique jobs that hold these keys (perhaps earlier in this batch)
                held = conn.execute(BY_UNIQUE_KEYS, (compact(unique),))
                holders = {row[0]: READ.job(row[1:]) for row in held}
                for key, holder, payload, run_at in unique_replacements(
                    jobs, ids, payloads, run_ats, inserted, existing, holders
                ):
                    row = conn.execute(REPLACE_PENDING, (holder, payload, run_at)).fetchone()
                    if row is not None:
                        holders[key] = READ.job(row)
            return enqueue_results(jobs, ids, payloads, inserted, existing, holders)

        return insert

    def ring_for(self, results: Sequence[EnqueueResult]) -> None:
        """Wake the listening processes if a job of ``results`` was made and is due now."""
        now = self._db.now()  # a unique job met may have been replaced: due now, perhaps
        if any((r.created or r.unique_hit) and to_us(r.job.run_at) <= now for r in results):
            self.ringer.ring()
