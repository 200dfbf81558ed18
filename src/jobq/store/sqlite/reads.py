"""Reads on SQLite, on the reader connection: WAL lets them run beside the writer."""

from __future__ import annotations

import sqlite3
from typing import Any

from jobq.domain.ids import JobId
from jobq.domain.job import (
    Attempt,
    Job,
    MinuteCount,
    Outcome,
    ProcessInfo,
    QueueCount,
    WaitingCount,
)
from jobq.domain.states import JobState
from jobq.store.claim import CLAIMABLE
from jobq.store.common import ATTEMPT_COLUMNS, JOB_COLUMNS, PROCESS_COLUMNS, filter_values
from jobq.store.records import JobFilter, Page
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import RUNNING
from jobq.store.sqlite.rows import READ, from_us

_MINUTE_US = 60 * 1_000_000

ATTEMPTS = f"SELECT {ATTEMPT_COLUMNS} FROM attempts WHERE job_id = ? ORDER BY seq"
# the attempt under way, if the job is running: recorded only when it ends
CURRENT_ATTEMPT = f"""
SELECT id, attempt, worker_id, started_at, NULL, NULL, NULL FROM jobs
WHERE id = ? AND status = '{RUNNING}'
"""


class SQLiteReads:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, job_id: JobId) -> Job | None:
        def run(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else READ.job(row)

        return await self._db.reader.read(run)

    async def attempts(self, job_id: JobId) -> list[Attempt]:
        def run(conn: sqlite3.Connection) -> list[Attempt]:
            # One snapshot for both reads, so an attempt that ends between them is not lost.
            # (The connection rolls back a read transaction an error leaves open.)
            conn.execute("BEGIN")
            rows = conn.execute(ATTEMPTS, (job_id,)).fetchall()
            rows += conn.execute(CURRENT_ATTEMPT, (job_id,)).fetchall()
            conn.execute("COMMIT")
            return [READ.attempt(row) for row in rows]

        return await self._db.reader.read(run)

    async def list_jobs(self, where: JobFilter, *, limit: int, after: JobId | None = None) -> Page:
        pairs = filter_values(where)
        conditions = [f"{column} = ?" for column, _ in pairs]
        params: list[Any] = [value for _, value in pairs]
        if after is not None:
            conditions.append("id < ?")
            params.append(after)
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)

        def run(conn: sqlite3.Connection) -> Page:
            return Page.of([READ.job(row) for row in conn.execute(sql, params)], limit)

        return await self._db.reader.read(run)

    async def counts(self) -> list[QueueCount]:
        def run(conn: sqlite3.Connection) -> list[QueueCount]:
            # kept by triggers as jobs change (schema 8): a few rows, however many jobs
            rows = conn.execute(
                "SELECT queue, status, n FROM job_counts WHERE n <> 0 ORDER BY queue, status"
            )
            return [QueueCount(queue, JobState(status), n) for queue, status, n in rows]

        return await self._db.reader.read(run)

    async def processes(self, *, max_age: float) -> list[ProcessInfo]:
        since = self._db.now() - round(max_age * 1_000_000)

        def run(conn: sqlite3.Connection) -> list[ProcessInfo]:
            rows = conn.execute(
                f"SELECT {PROCESS_COLUMNS} FROM processes WHERE seen_at >= ? "
                "ORDER BY host, pid, id",
                (since,),
            )
            return [READ.process(row) for row in rows]

        return await self._db.reader.read(run)

    async def throughput(self, *, minutes: int) -> list[MinuteCount]:
        since = (self._db.now() // _MINUTE_US - minutes + 1) * _MINUTE_US

        def run(conn: sqlite3.Connection) -> list[MinuteCount]:
            rows = conn.execute(
                "SELECT finished_at / ? * ?, outcome, count(*) FROM attempts "
                "WHERE finished_at >= ? GROUP BY 1, 2 ORDER BY 1, 2",
                (_MINUTE_US, _MINUTE_US, since),
            )
            return [
                MinuteCount(from_us(minute), Outcome(outcome), n) for minute, outcome, n in rows
            ]

        return await self._db.reader.read(run)

    async def oldest_waiting_age(self) -> float | None:
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> float | None:
            [oldest] = conn.execute(
                f"SELECT min(run_at) FROM jobs WHERE status IN {CLAIMABLE} AND run_at <= ?",
                (now,),
            ).fetchone()
            return None if oldest is None else (now - oldest) / 1_000_000

        return await self._db.reader.read(run)

    async def waiting(self) -> list[WaitingCount]:
        now = self._db.now()

        def run(conn: sqlite3.Connection) -> list[WaitingCount]:
            rows = conn.execute(
                "SELECT queue, type, count(*), min(run_at) FROM jobs "
                f"WHERE status IN {CLAIMABLE} AND run_at <= ? GROUP BY queue, type ORDER BY 1, 2",
                (now,),
            )
            return [
                WaitingCount(queue, job_type, n, from_us(since))
                for queue, job_type, n, since in rows
            ]

        return await self._db.reader.read(run)
