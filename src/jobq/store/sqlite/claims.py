"""Claims on SQLite: take due jobs under the write lock, extend leases, hand back unstarted
jobs."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from jobq.domain.ids import JobId
from jobq.domain.job import Job, Lease
from jobq.store.claim import (
    CLAIM_ORDER,
    ClaimRequest,
    ClaimShape,
    claim_condition,
    claim_params,
    in_claim_order,
)
from jobq.store.common import JOB_COLUMNS
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import LEASES_IN, RELEASE_SET, RUNNING, leases_json
from jobq.store.sqlite.rows import READ, to_us


class SQLiteDialect:
    now = ":now"

    def member(self, column: str, name: str, count: int) -> str:
        if count == 1:
            return f"{column} = :{name}0"
        return f"{column} IN ({', '.join(f':{name}{i}' for i in range(count))})"

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        return {f"{name}{i}": value for i, value in enumerate(values)}


DIALECT = SQLiteDialect()


@functools.cache
def claim_sql(shape: ClaimShape) -> str:
    """The statement that guarantees a job is claimed once: the inner SELECT picks jobs that may
    be claimed, in claim order, and the UPDATE marks them in the same statement, under the
    write lock of BEGIN IMMEDIATE.

    INDEXED BY pins a partial index of waiting jobs: walked in claim order, it stops after
    LIMIT rows however many jobs wait. Without it the planner may pick the status index and
    sort every due job on each claim. (One queue: its own index. Several or all: the global
    one, filtering.)"""
    index = "jobs_queue_due" if shape.queue_count == 1 else "jobs_due"
    return f"""
UPDATE jobs
SET status = '{RUNNING}', attempt = attempt + 1, worker_id = :owner,
    lease_expires_at = :lease_until, started_at = :now, progress = NULL, progress_message = NULL
WHERE id IN (
    SELECT id FROM jobs INDEXED BY {index}
    WHERE {claim_condition(shape, DIALECT)}
    ORDER BY {CLAIM_ORDER}
    LIMIT :limit
)
RETURNING {JOB_COLUMNS}
"""


HEARTBEAT = f"""
UPDATE jobs SET lease_expires_at = :lease_until
WHERE status = '{RUNNING}' AND {LEASES_IN}
RETURNING id
"""

RELEASE_MANY = f"""
UPDATE jobs {RELEASE_SET}
WHERE status = '{RUNNING}' AND {LEASES_IN}
RETURNING id
"""


class SQLiteClaims:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, request: ClaimRequest) -> list[Job]:
        if request.takes_nothing:
            return []
        moment = self._db.clock.now()
        params = {
            "owner": request.owner,
            "now": to_us(moment),
            "lease_until": to_us(moment + timedelta(seconds=request.lease_seconds)),
            "limit": request.limit,
            **claim_params(request, DIALECT),
        }
        sql = claim_sql(request.shape)

        def run(conn: sqlite3.Connection) -> list[Job]:
            return [READ.job(row) for row in conn.execute(sql, params).fetchall()]

        return in_claim_order(await self._db.writer.write(run))

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        if not leases:
            return set()
        until = self._db.clock.now() + timedelta(seconds=lease_seconds)
        return await self._ids(
            HEARTBEAT, {"lease_until": to_us(until), "leases": leases_json(leases)}
        )

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()
        return await self._ids(RELEASE_MANY, {"leases": leases_json(leases)})

    async def _ids(self, sql: str, params: dict[str, Any]) -> set[JobId]:
        def run(conn: sqlite3.Connection) -> set[JobId]:
            return {JobId(row[0]) for row in conn.execute(sql, params)}

        return await self._db.writer.write(run)
