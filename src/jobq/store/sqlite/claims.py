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
    Claimed,
    ClaimRequest,
    around_pauses,
    in_claim_order,
)
from jobq.store.common import JOB_COLUMNS
from jobq.store.limits import LimitPlan, ParsedLimits, applicable
from jobq.store.sqlite.claim_sql import PAUSED, bound, claim_sql, waiting_queues, waiting_types
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.fence import LEASES_IN, RELEASE_SET, RUNNING, leases_json
from jobq.store.sqlite.limit_control import LIMITS
from jobq.store.sqlite.limited_claims import claim_limited
from jobq.store.sqlite.rows import READ, to_us

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
        self._limits = ParsedLimits()  # used on the writer thread only

    async def claim(self, request: ClaimRequest) -> list[Job]:
        if request.takes_nothing:
            return []
        clock = self._db.clock

        def run(conn: sqlite3.Connection) -> tuple[list[Any], LimitPlan | None]:
            # the time is read under the write lock: claims of every process take turns in
            # its order (a rate's windows never go back)
            moment = clock.now()
            params = {
                "owner": request.owner,
                "now": to_us(moment),
                "lease_until": to_us(moment + timedelta(seconds=request.lease_seconds)),
                "limit": request.limit,
            }
            paused = [queue for (queue,) in conn.execute(PAUSED, params)]
            # read once per claim, if at all: a few rows of the kept counts
            waiting = functools.cache(lambda: waiting_queues(conn))
            claim = request
            limits = self._limits.of(conn.execute(LIMITS).fetchall())
            if limits:
                # exact: no job comes or goes while the claim holds the write lock
                found = applicable(
                    request, limits, lambda names: waiting_types(conn, names), waiting
                )
                if found.limited:
                    plan = LimitPlan(request, limits, moment)
                    return claim_limited(conn, plan, params, paused, waiting), plan
                claim = found.ordinary(request)
                paused += found.idle_queues
            claim = around_pauses(claim, paused, waiting)
            if claim.takes_nothing:
                return [], None
            sql = claim_sql(claim.shape)
            return conn.execute(sql, {**params, **bound(claim)}).fetchall(), None

        # the rows are read into jobs after the write lock is let go
        rows, plan = await self._db.writer.write(run)
        jobs = [READ.job(row) for row in rows]
        if plan is None:
            return Claimed.of(jobs, held_back=False)
        return Claimed.of(jobs, held_back=plan.held_back, room_at=plan.room_at)

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
