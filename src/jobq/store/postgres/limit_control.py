"""Limits on PostgreSQL: a row each in ``limits`` per scope and origin. Each pool plans its
claims with the limits as it last read them (``LimitView``, at most a second old); a limited
claim then locks its scopes' rows and reads them again, so the limits it keeps to are the
ones stored (``limited_claims.py``)."""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import Any

import psycopg

from jobq.domain.limits import LimitOrigin, Limits, LimitScope, ScopeLimits, merge
from jobq.store.limits import LIMIT_COLUMNS, limit_values, stored_limits
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW, RUNNING


class LimitView:
    """The limits as this process last read them, at most ``MAX_AGE`` seconds ago: which
    claims are limited claims."""

    MAX_AGE = 1.0

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._read = f"SELECT {LIMIT_COLUMNS} FROM {ctx.tables.limits}"
        self._limits: list[ScopeLimits] = []
        self._read_at = -math.inf

    async def limits(self) -> list[ScopeLimits]:
        if time.monotonic() - self._read_at >= self.MAX_AGE:
            rows = await self._ctx.db.fetch(self._read, {})
            self._limits = merge([stored_limits(row) for row in rows])
            self._read_at = time.monotonic()
        return self._limits

    def forget(self) -> None:
        """Read the limits again at the next claim (this process changed them)."""
        self._read_at = -math.inf


class PostgresLimitControl:
    def __init__(self, ctx: Context, view: LimitView) -> None:
        self._ctx = ctx
        self._view = view
        limits = ctx.tables.limits
        self._limits = f"SELECT {LIMIT_COLUMNS} FROM {limits}"
        self._scope_limits = f"{self._limits} WHERE scope = %(scope)s AND name = %(name)s"
        self._set = f"""
            INSERT INTO {limits} (scope, name, origin, concurrency, concurrency_by, rate,
                                  rate_per, rate_by, updated_at)
            VALUES (%(scope)s, %(name)s, %(origin)s, %(concurrency)s, %(concurrency_by)s,
                    %(rate)s, %(rate_per)s, %(rate_by)s, {NOW})
            ON CONFLICT (scope, name, origin) DO UPDATE SET
                concurrency = EXCLUDED.concurrency, concurrency_by = EXCLUDED.concurrency_by,
                rate = EXCLUDED.rate, rate_per = EXCLUDED.rate_per, rate_by = EXCLUDED.rate_by,
                updated_at = EXCLUDED.updated_at"""
        self._clear = f"""
            DELETE FROM {limits} WHERE scope = %(scope)s AND name = %(name)s AND origin = 'set'
            RETURNING 1"""
        # the rows a publish changes, locked first in the order the claims lock them (scope,
        # name, origin): a publish and a limited claim cannot deadlock
        self._lock_types = f"""
            SELECT 1 FROM {limits} WHERE scope = 'type' AND name = ANY(%(names)s::text[])
            ORDER BY scope, name, origin FOR UPDATE"""
        self._undeclared = f"""
            DELETE FROM {limits}
            WHERE scope = 'type' AND origin = 'code' AND name = ANY(%(names)s::text[])"""
        self._running = f"""
            SELECT type, queue, count(*) FROM {ctx.tables.jobs} WHERE status = '{RUNNING}'
            GROUP BY 1, 2"""

    async def limits(self) -> list[ScopeLimits]:
        rows = await self._ctx.db.fetch(self._limits, {})
        return merge([stored_limits(row) for row in rows])

    async def set(self, scope: LimitScope, name: str, limits: Limits) -> ScopeLimits:
        params = {
            "scope": scope.value,
            "name": name,
            "origin": LimitOrigin.SET.value,
            "now": self._ctx.now(),
            **limit_values(limits),
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[ScopeLimits]:
            await conn.execute(self._set, params)
            cursor = await conn.execute(self._scope_limits, params)
            held = merge([stored_limits(row) for row in await cursor.fetchall()])
            await self._wake(conn, scope, name)
            return held

        [held] = await self._ctx.db.run(run)
        self._view.forget()
        return held

    async def clear(self, scope: LimitScope, name: str) -> bool:
        params = {"scope": scope.value, "name": name}

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = await conn.execute(self._clear, params)
            cleared = await cursor.fetchone() is not None
            await self._wake(conn, scope, name)
            return cleared

        cleared = await self._ctx.db.run(run)
        self._view.forget()
        return cleared

    async def _wake(self, conn: psycopg.AsyncConnection[Any], scope: LimitScope, name: str) -> None:
        """A queue's limit changed: its jobs may be claimed now (a type's are claimed at the
        pools' next poll)."""
        if scope is LimitScope.QUEUE:
            await self._ctx.tables.notify(conn, {name})

    async def publish(self, handled: Collection[str], own: Mapping[str, Limits]) -> None:
        declared = [
            {
                "scope": LimitScope.TYPE.value,
                "name": name,
                "origin": LimitOrigin.CODE.value,
                "now": self._ctx.now(),
                **limit_values(limits),
            }
            for name, limits in sorted(own.items())
        ]
        undeclared = sorted(set(handled) - set(own))

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._lock_types, {"names": sorted({*handled, *own})})
            await conn.execute(self._undeclared, {"names": undeclared})
            async with conn.cursor() as cursor:
                await cursor.executemany(self._set, declared)

        await self._ctx.db.run(run)
        self._view.forget()

    async def running(self) -> list[tuple[str, str, int]]:
        rows = await self._ctx.db.fetch(self._running, {})
        return [(t, q, int(n)) for t, q, n in rows]
