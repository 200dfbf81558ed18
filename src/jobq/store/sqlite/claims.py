"""Claims on SQLite: take due jobs under the write lock, extend leases, hand back unstarted
jobs."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from jobq.domain.ids import JobId, PoolId
from jobq.domain.job import Job, Lease
from jobq.domain.states import JobState
from jobq.store.claim import (
    CLAIM_ORDER,
    CLAIMABLE,
    ClaimRequest,
    ClaimShape,
    around_pauses,
    claim_condition,
    claim_params,
    in_claim_order,
    pair_arms,
    type_arms,
)
from jobq.store.common import JOB_COLUMNS
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import LEASES_IN, RELEASE_SET, RUNNING, leases_json
from jobq.store.sqlite.rows import READ, to_us


class SQLiteDialect:
    now = ":now"
    # the claim reads the pauses under its write lock, and is rewritten around them
    paused = None

    def member(self, column: str, name: str, count: int) -> str:
        if count == 1:
            return f"{column} = :{name}0"
        return f"{column} IN ({', '.join(f':{name}{i}' for i in range(count))})"

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        return {f"{name}{i}": value for i, value in enumerate(values)}

    def single(self, name: str) -> str:
        return f":{name}0"


DIALECT = SQLiteDialect()
#: more types than this are filtered in one walk (SQLite allows 500 arms in a compound SELECT)
MAX_TYPE_ARMS = 100


@functools.cache
def claim_sql(shape: ClaimShape) -> str:
    """The statement that guarantees a job is claimed once: the inner SELECT picks jobs that may
    be claimed, in claim order, and the UPDATE marks them in the same statement, under the
    write lock of BEGIN IMMEDIATE.

    INDEXED BY pins a partial index of waiting jobs: walked in claim order, it stops after
    LIMIT rows however many jobs wait. Without it the planner may pick the status index and
    sort every due job on each claim. (By type: an arm per type on the type's own index. Any
    type: one queue, its own index; several or all, the global one, filtering.)"""
    return f"""
UPDATE jobs
SET status = '{RUNNING}', attempt = attempt + 1, worker_id = :owner,
    lease_expires_at = :lease_until, started_at = :now, progress = NULL, progress_message = NULL
WHERE id IN ({picked(shape)})
RETURNING {JOB_COLUMNS}
"""


def picked(shape: ClaimShape) -> str:
    """The ids a claim of ``shape`` takes, in claim order, at most ``:limit``."""
    condition = claim_condition(shape, DIALECT)
    if shape.pair_count is not None:
        return arms(
            [
                f"type = :pair_type{i} AND queue = :pair_queue{i} AND {condition}"
                for i in range(shape.pair_count)
            ],
            "jobs_type_queue_due",
        )
    if shape.type_count is None or shape.type_count > MAX_TYPE_ARMS:
        index = "jobs_queue_due" if shape.queue_count == 1 else "jobs_due"
        if shape.type_count is not None:  # beyond what a compound SELECT takes: filter
            condition += " AND " + DIALECT.member("type", "type", shape.type_count)
        return walk("id", index, condition)
    return arms(
        [f"type = :type{i} AND {condition}" for i in range(shape.type_count)], "jobs_type_due"
    )


def arms(conditions: list[str], index: str) -> str:
    """An arm per condition, each a walk of ``index`` that stops after ``:limit`` rows; the
    first ``:limit`` of them all, in claim order."""
    if len(conditions) == 1:
        return walk("id", index, conditions[0])
    walks = [walk("id, priority, run_at", index, condition) for condition in conditions]
    union = " UNION ALL ".join(f"SELECT * FROM ({arm})" for arm in walks)
    return f"SELECT id FROM ({union}) ORDER BY {CLAIM_ORDER} LIMIT :limit"


def walk(columns: str, index: str, condition: str) -> str:
    """Jobs that meet ``condition``, read from ``index`` in claim order, at most ``:limit``."""
    return (
        f"SELECT {columns} FROM jobs INDEXED BY {index} WHERE {condition} "
        f"ORDER BY {CLAIM_ORDER} LIMIT :limit"
    )


PAUSED = "SELECT queue FROM queue_pauses WHERE until IS NULL OR until > :now"
WAITING_QUEUES = f"SELECT DISTINCT queue FROM job_counts WHERE status IN {CLAIMABLE} AND n > 0"


def waiting_queues(conn: sqlite3.Connection) -> list[str]:
    """The queues that have jobs waiting (the kept counts: a few rows, not the jobs)."""
    return [queue for (queue,) in conn.execute(WAITING_QUEUES)]


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


OWNED = f"SELECT {JOB_COLUMNS} FROM jobs WHERE status = '{RUNNING}' AND worker_id = :owner"
# Cancelled while they ran under these leases: the cancel keeps the owner and the attempt.
CANCELLED_RUNS = f"""
SELECT id FROM jobs WHERE status = '{JobState.CANCELLED.value}' AND {LEASES_IN}
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
            **type_arms(request),
        }

        def run(conn: sqlite3.Connection) -> list[Any]:
            paused = [queue for (queue,) in conn.execute(PAUSED, params)]
            claim = around_pauses(request, paused, lambda: waiting_queues(conn))
            if claim.takes_nothing:
                return []
            sql = claim_sql(claim.shape)
            return conn.execute(
                sql, {**params, **claim_params(claim, DIALECT), **pair_arms(claim)}
            ).fetchall()

        # the rows are read into jobs after the write lock is let go
        return in_claim_order([READ.job(row) for row in await self._db.writer.write(run)])

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

    async def owned(self, owner: PoolId) -> list[Job]:
        def run(conn: sqlite3.Connection) -> list[Job]:
            return [READ.job(row) for row in conn.execute(OWNED, {"owner": owner}).fetchall()]

        return in_claim_order(await self._db.reader.read(run))

    async def cancelled(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()
        params = {"leases": leases_json(leases)}

        def run(conn: sqlite3.Connection) -> set[JobId]:
            return {JobId(row[0]) for row in conn.execute(CANCELLED_RUNS, params)}

        return await self._db.reader.read(run)

    async def _ids(self, sql: str, params: dict[str, Any]) -> set[JobId]:
        def run(conn: sqlite3.Connection) -> set[JobId]:
            return {JobId(row[0]) for row in conn.execute(sql, params)}

        return await self._db.writer.write(run)
