"""A limited claim on PostgreSQL (``store/limits.py``): one transaction that locks the limited
scopes' ``limits`` rows (in one order, so two claims cannot deadlock), reads them again, counts
what they count, then reads candidates and takes those the limits allow, round by round. The
limited claims of one scope take turns across the fleet; other claims do not wait for them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import psycopg

from jobq.domain.job import Job
from jobq.domain.limits import LimitScope
from jobq.store.claim import CLAIMABLE, Claimed, ClaimRequest, ClaimShape
from jobq.store.common import from_us, to_us
from jobq.store.limits import LIMIT_COLUMNS, LimitPlan, candidate
from jobq.store.postgres.context import Context
from jobq.store.postgres.rows import READ, columns
from jobq.store.postgres.sql import NOW, RUNNING

#: (scope, name) pairs given as two arrays
SCOPES_IN = "(scope, name) IN (SELECT * FROM unnest(%(scopes)s::text[], %(names)s::text[]))"


class ClaimStatements(Protocol):
    """What a limited claim takes from the claims: their statements and parameters."""

    @property
    def ctx(self) -> Context: ...

    @property
    def claim_set(self) -> str: ...

    def claim_sql(self, shape: ClaimShape) -> str: ...

    def candidates_sql(self, shape: ClaimShape, field_count: int) -> str: ...

    def params(self, request: ClaimRequest) -> dict[str, Any]: ...

    async def waiting_queues(
        self, conn: psycopg.AsyncConnection[Any] | None = None
    ) -> list[str]: ...


def scope_params(scopes: Sequence[tuple[LimitScope, str]]) -> dict[str, list[str]]:
    return {"scopes": [scope.value for scope, _ in scopes], "names": [name for _, name in scopes]}


class LimitedClaims:
    def __init__(self, statements: ClaimStatements) -> None:
        self._statements = statements
        tables = statements.ctx.tables
        jobs, starts = tables.jobs, tables.limit_starts
        self._lock = f"""
            SELECT {LIMIT_COLUMNS} FROM {tables.limits} WHERE {SCOPES_IN}
            ORDER BY scope, name, origin FOR UPDATE"""
        # read after the lock: the limited claims of a scope take turns in the order of this
        # clock (a rate's windows never go back), and stamp their jobs with it
        self._now = "SELECT COALESCE(%(now)s::timestamptz, clock_timestamp())"
        # the chosen jobs, in one statement (the kept counts' triggers run once per claim, as
        # for any claim); one another claimer holds meanwhile is passed over
        self._take = f"""
            WITH locked AS (
                SELECT id FROM {jobs} WHERE id = ANY(%(ids)s::uuid[]) AND status IN {CLAIMABLE}
                ORDER BY id FOR UPDATE SKIP LOCKED
            )
            UPDATE {jobs} {statements.claim_set}
            FROM locked WHERE {jobs}.id = locked.id
            RETURNING {columns(jobs)}"""
        self._ended_starts = f"DELETE FROM {starts} WHERE window_end <= {NOW} AND {SCOPES_IN}"
        self._starts = f"SELECT scope, name, part, window_end, n FROM {starts} WHERE {SCOPES_IN}"
        self._record_starts = f"""
            INSERT INTO {starts} AS s (scope, name, part, window_end, n)
            VALUES (%(scope)s, %(name)s, %(part)s, %(window_end)s, %(n)s)
            ON CONFLICT (scope, name, part) DO UPDATE SET
                n = CASE WHEN s.window_end = EXCLUDED.window_end THEN s.n + EXCLUDED.n
                         ELSE EXCLUDED.n END,
                window_end = EXCLUDED.window_end"""

    def _running(self, field_count: int) -> str:
        """The running jobs of the limited types and queues (few: the running index's rows)."""
        keys = "".join(f", payload->>%(field{i})s" for i in range(field_count))
        return f"""
            SELECT type, queue{keys} FROM {self._statements.ctx.tables.jobs}
            WHERE status = '{RUNNING}'
              AND (type = ANY(%(types)s::text[]) OR queue = ANY(%(queues)s::text[]))"""

    async def claim(
        self, request: ClaimRequest, scopes: list[tuple[LimitScope, str]], paused: list[str]
    ) -> list[Job] | None:
        """Claim for ``request``, which the limits of ``scopes`` apply to as this process last
        read them; None if they no longer do (lifted meanwhile): claim as usual."""
        statements = self._statements
        ctx = statements.ctx

        async def run(conn: psycopg.AsyncConnection[Any]) -> tuple[list[Any], LimitPlan] | None:
            params = scope_params(sorted(scopes))
            rows = await (await conn.execute(self._lock, params)).fetchall()
            [(now,)] = await (await conn.execute(self._now, {"now": ctx.now()})).fetchall()
            plan = LimitPlan.of_rows(request, rows, now)
            if not plan.applies:
                return None
            waiting: list[str] = []
            if request.queues is None and (paused or plan.names(LimitScope.QUEUE)):
                waiting = await statements.waiting_queues(conn)
            return await self._take_allowed(conn, plan, paused, waiting, now), plan

        taken = await ctx.db.run(run)
        if taken is None:
            return None
        rows, plan = taken
        jobs = [READ.job(row) for row in rows]
        return Claimed.of(jobs, held_back=plan.held_back, room_at=plan.room_at)

    async def _take_allowed(
        self,
        conn: psycopg.AsyncConnection[Any],
        plan: LimitPlan,
        paused: list[str],
        waiting: list[str],
        now: datetime,
    ) -> list[Any]:
        statements = self._statements
        fields = {f"field{i}": field for i, field in enumerate(plan.fields)}
        limited = {
            "types": plan.names(LimitScope.TYPE),
            "queues": plan.names(LimitScope.QUEUE),
            **fields,
        }
        running = await conn.execute(self._running(len(fields)), limited)
        plan.count_running(await running.fetchall())
        if plan.rates:
            rated = scope_params([(scope, name) for scope, name, _ in plan.rates])
            await conn.execute(self._ended_starts, {**rated, "now": now})
            found = await (await conn.execute(self._starts, rated)).fetchall()
            plan.count_starts(
                (scope, name, part, to_us(end), n) for scope, name, part, end, n in found
            )
        while (request := plan.next_request(paused, lambda: waiting)) is not None:
            sql = statements.candidates_sql(request.shape, len(fields))
            read = await conn.execute(sql, {**statements.params(request), **fields, "now": now})
            plan.offer([candidate(row) for row in await read.fetchall()], request.limit)
        if not plan.chosen:
            return []
        params = {**statements.params(plan.request), "ids": plan.chosen, "now": now}
        taken = await (await conn.execute(self._take, params)).fetchall()
        starts = [
            {
                "scope": scope,
                "name": name,
                "part": part,
                "window_end": from_us(end),
                "n": n,
            }
            for scope, name, part, end, n in plan.starts([row[0] for row in taken])
        ]
        if starts:
            async with conn.cursor() as cursor:
                await cursor.executemany(self._record_starts, starts)
        return taken
