"""Claims on PostgreSQL: take due jobs with ``FOR UPDATE SKIP LOCKED``, extend leases, hand
back unstarted jobs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from jobq.domain.ids import JobId, PoolId
from jobq.domain.job import Job, Lease
from jobq.domain.limits import LimitScope, ScopeLimits
from jobq.domain.states import JobState
from jobq.store.claim import (
    CLAIM_ORDER,
    CLAIMABLE,
    ClaimRequest,
    ClaimShape,
    around_pauses,
    claim_condition,
    claim_order,
    claim_params,
    in_claim_order,
)
from jobq.store.limits import applicable, covered_by
from jobq.store.postgres.context import Context
from jobq.store.postgres.limit_control import LimitView
from jobq.store.postgres.limited_claims import LimitedClaims
from jobq.store.postgres.queue_control import HOLDS, PauseView
from jobq.store.postgres.rows import READ, columns
from jobq.store.postgres.sql import LEASES, NOW, RELEASE_SET, RUNNING, locked_leases


@dataclass(frozen=True, slots=True)
class PostgresDialect:
    paused: str
    now: str = NOW

    def member(self, column: str, name: str, count: int) -> str:
        if count == 1:
            return f"{column} = %({name})s"
        return f"{column} = ANY(%({name})s::text[])"

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        return {name: values[0] if len(values) == 1 else list(values)}

    def single(self, name: str) -> str:
        return f"%({name})s"


def leases_params(leases: Sequence[Lease]) -> dict[str, Any]:
    return {
        "ids": [uuid.UUID(lease.job_id) for lease in leases],
        "owners": [lease.owner for lease in leases],
        "attempts": [lease.attempt for lease in leases],
    }


class PostgresClaims:
    def __init__(self, ctx: Context, pauses: PauseView, limits: LimitView) -> None:
        self._ctx = ctx
        self._pauses = pauses
        jobs = ctx.tables.jobs
        self._waiting_queues = f"""
            SELECT queue FROM {ctx.tables.counts} WHERE status IN {CLAIMABLE}
            GROUP BY queue HAVING sum(n) > 0"""
        # a probe of each type's index of waiting jobs, in its order (LIMIT 1: never a scan)
        self._waiting_types_sql = f"""
            SELECT 'type', wanted FROM unnest(%(types)s::text[]) AS wanted
            CROSS JOIN LATERAL (
                SELECT 1 FROM {jobs} WHERE type = wanted AND status IN {CLAIMABLE}
                ORDER BY {CLAIM_ORDER} LIMIT 1
            ) AS found"""
        self._waiting_scopes_sql = f"""
            {self._waiting_types_sql}
            UNION ALL
            SELECT 'queue', queue FROM {ctx.tables.counts} WHERE status IN {CLAIMABLE}
            GROUP BY queue HAVING sum(n) > 0"""
        self._claims: dict[ClaimShape, str] = {}
        self._candidates: dict[tuple[ClaimShape, int], str] = {}
        self._claim_set = f"""
                SET status = '{RUNNING}', attempt = {jobs}.attempt + 1, worker_id = %(owner)s,
                    lease_expires_at = {NOW} + %(lease)s::float8 * interval '1 second',
                    started_at = {NOW}, progress = NULL, progress_message = NULL"""
        self._limits = limits
        self._limited = LimitedClaims(self)

        self._dialect = PostgresDialect(
            paused=f"SELECT queue FROM {ctx.tables.pauses} WHERE {HOLDS}"
        )
        self._release_many = f"""
            WITH {locked_leases(jobs)}
            UPDATE {jobs} {RELEASE_SET}
            FROM locked WHERE {jobs}.id = locked.id
            RETURNING {jobs}.id, {jobs}.queue"""
        # cancelled while they ran under these leases: the cancel keeps the owner and attempt
        self._cancelled = (
            f"SELECT id FROM {jobs} WHERE status = '{JobState.CANCELLED.value}' AND {LEASES}"
        )
        self._owned = (
            f"SELECT {columns(jobs)} FROM {jobs} WHERE status = '{RUNNING}' "
            "AND worker_id = %(owner)s"
        )
        self._heartbeat = f"""
            WITH {locked_leases(jobs)}
            UPDATE {jobs} SET lease_expires_at = {NOW} + %(lease)s::float8 * interval '1 second'
            FROM locked WHERE {jobs}.id = locked.id
            RETURNING {jobs}.id"""

    @property
    def ctx(self) -> Context:
        return self._ctx

    @property
    def claim_set(self) -> str:
        """What a claim sets on each job it takes."""
        return self._claim_set

    def claim_sql(self, shape: ClaimShape) -> str:
        """The one statement that guarantees a job is claimed once: the CTE locks jobs that may
        be claimed, in claim order, skipping rows another claimer holds, and the UPDATE marks
        them."""
        sql = self._claims.get(shape)
        if sql is None:
            jobs = self._ctx.tables.jobs
            sql = self._claims[shape] = f"""
                WITH picked AS ({self._picked(shape)})
                UPDATE {jobs} {self._claim_set}
                FROM picked WHERE {jobs}.id = picked.id
                RETURNING {columns(jobs)}"""
        return sql

    def candidates_sql(self, shape: ClaimShape, field_count: int) -> str:
        """What a limited claim of ``shape`` reads (without locking: it locks only the jobs it
        chooses, as it takes them): the jobs the claim would take, at most ``%(limit)s``, with
        their id, type, queue, priority and run_at, and the value of each payload field
        ``%(field0)s``... as text."""
        key = (shape, field_count)
        sql = self._candidates.get(key)
        if sql is None:
            fields = "".join(f", payload->>%(field{i})s AS k{i}" for i in range(field_count))
            sql = self._candidates[key] = self._picked(
                shape, "id, type, queue, priority, run_at" + fields, lock=""
            )
        return sql

    def _picked(
        self, shape: ClaimShape, wanted_columns: str = "id", lock: str = "FOR UPDATE SKIP LOCKED"
    ) -> str:
        """The ids (or ``wanted_columns``) of the jobs a claim of ``shape`` takes and locks, in
        claim order, at most ``%(limit)s``. By type: an arm per type of ``%(types)s``, each
        on the type's index; around a pause, an arm per (type, queue) pair, each on the
        pairs' index."""
        jobs = self._ctx.tables.jobs
        condition = claim_condition(shape, self._dialect)
        if shape.pair_count is not None:
            return self._arms(
                "unnest(%(pair_types)s::text[], %(pair_queues)s::text[]) AS wanted(type, queue)",
                f"{jobs}.type = wanted.type AND {jobs}.queue = wanted.queue AND {condition}",
                wanted_columns,
                lock,
            )
        if shape.type_count is None:
            return f"""
                    SELECT {wanted_columns} FROM {jobs}
                    WHERE {condition}
                    ORDER BY {CLAIM_ORDER}
                    LIMIT %(limit)s
                    {lock}"""
        return self._arms(
            "unnest(%(types)s::text[]) AS wanted(type)",
            f"{jobs}.type = wanted.type AND {condition}",
            wanted_columns,
            lock,
        )

    def _arms(self, wanted: str, arm_condition: str, wanted_columns: str, lock: str) -> str:
        """An arm per row of ``wanted``, each the jobs that meet ``arm_condition`` in claim
        order, locked, at most ``%(limit)s``; the first ``%(limit)s`` of them all."""
        inner = "id, priority, run_at" if wanted_columns == "id" else wanted_columns
        outer = "arm.id" if wanted_columns == "id" else "arm.*"
        return f"""
                    SELECT {outer} FROM {wanted}
                    CROSS JOIN LATERAL (
                        SELECT {inner} FROM {self._ctx.tables.jobs}
                        WHERE {arm_condition}
                        ORDER BY {CLAIM_ORDER}
                        LIMIT %(limit)s
                        {lock}
                    ) AS arm
                    ORDER BY {claim_order("arm")}
                    LIMIT %(limit)s"""

    def params(self, request: ClaimRequest) -> dict[str, Any]:
        """The parameters of the claim statement (or the candidates) of ``request``."""
        params = {
            "owner": request.owner,
            "now": self._ctx.now(),
            "lease": request.lease_seconds,
            "limit": request.limit,
            **claim_params(request, self._dialect),
        }
        if request.types is not None:
            params["types"] = list(request.types)
        if request.pairs is not None:
            params["pair_types"] = [job_type for job_type, _ in request.pairs]
            params["pair_queues"] = [queue for _, queue in request.pairs]
        return params

    async def claim(self, request: ClaimRequest) -> list[Job]:
        if request.takes_nothing:
            return []
        paused = await self._pauses.paused()
        limits = await self._limits.limits()
        waiting: list[str] | None = None
        covered = covered_by(request, limits)
        if covered:
            types, queues = await self._waiting_scopes(covered)
            if queues is not None:
                waiting = queues
            found = applicable(request, covered, lambda _: types, lambda: queues or ())
            if found.limited:
                scopes = [(held.scope, held.name) for held in covered]
                claimed = await self._limited.claim(request, scopes, paused)
                if claimed is not None:
                    return claimed
            else:
                # only limits of types and queues with nothing waiting: an ordinary claim that
                # leaves them out, so a job that comes meanwhile waits for a limited claim
                request = found.ordinary(request)
                paused = [*paused, *found.idle_queues]
                if request.takes_nothing:
                    return []
        if paused:
            if waiting is None:
                waiting = await self.waiting_queues() if request.queues is None else []
            known = waiting
            request = around_pauses(request, paused, lambda: known)
            if request.takes_nothing:
                return []
        rows = await self._ctx.db.fetch(self.claim_sql(request.shape), self.params(request))
        return in_claim_order([READ.job(row) for row in rows])

    async def _waiting_scopes(
        self, covered: list[ScopeLimits]
    ) -> tuple[set[str], list[str] | None]:
        """Of the limited types a claim covers (``covered``), those with jobs waiting; and the
        queues with jobs waiting if a queue limit covers it (else None), in one round trip."""
        types = [held.name for held in covered if held.scope is LimitScope.TYPE]
        queued = any(held.scope is LimitScope.QUEUE for held in covered)
        if not types and not queued:
            return set(), None
        rows = await self._ctx.db.fetch(
            self._waiting_scopes_sql if queued else self._waiting_types_sql, {"types": types}
        )
        return (
            {name for kind, name in rows if kind == "type"},
            [name for kind, name in rows if kind == "queue"] if queued else None,
        )

    async def waiting_queues(self, conn: psycopg.AsyncConnection[Any] | None = None) -> list[str]:
        """The queues that have jobs waiting (the kept counts: a few rows, not the jobs)."""
        if conn is None:
            rows = await self._ctx.db.fetch(self._waiting_queues, {})
        else:
            rows = await (await conn.execute(self._waiting_queues)).fetchall()
        return [queue for (queue,) in rows]

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        if not leases:
            return set()
        params = {**leases_params(leases), "lease": lease_seconds, "now": self._ctx.now()}
        return {JobId(str(row[0])) for row in await self._ctx.db.fetch(self._heartbeat, params)}

    async def owned(self, owner: PoolId) -> list[Job]:
        rows = await self._ctx.db.fetch(self._owned, {"owner": owner})
        return in_claim_order([READ.job(row) for row in rows])

    async def cancelled(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()
        rows = await self._ctx.db.fetch(self._cancelled, leases_params(leases))
        return {JobId(str(row[0])) for row in rows}

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()

        async def run(conn: psycopg.AsyncConnection[Any]) -> set[JobId]:
            cursor = await conn.execute(self._release_many, leases_params(leases))
            rows = await cursor.fetchall()
            await self._ctx.tables.notify(conn, {row[1] for row in rows})
            return {JobId(str(row[0])) for row in rows}

        return await self._ctx.db.run(run)
