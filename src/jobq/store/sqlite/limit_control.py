"""Limits on SQLite: a row each in ``limits`` per scope and origin, which every claim reads
under its write lock (a claim after ``set`` returns keeps to the new limit)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Mapping
from typing import Any

from jobq.domain.limits import LimitOrigin, Limits, LimitScope, ScopeLimits, merge
from jobq.store.limits import LIMIT_COLUMNS, limit_values, stored_limits
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.doorbell import Ringer
from jobq.store.sqlite.fence import RUNNING

LIMITS = f"SELECT {LIMIT_COLUMNS} FROM limits"
SCOPE_LIMITS = f"{LIMITS} WHERE scope = :scope AND name = :name"
SET = """
INSERT INTO limits (scope, name, origin, concurrency, concurrency_by, rate, rate_per, rate_by,
                    updated_at)
VALUES (:scope, :name, :origin, :concurrency, :concurrency_by, :rate, :rate_per, :rate_by, :now)
ON CONFLICT (scope, name, origin) DO UPDATE SET
    concurrency = excluded.concurrency, concurrency_by = excluded.concurrency_by,
    rate = excluded.rate, rate_per = excluded.rate_per, rate_by = excluded.rate_by,
    updated_at = excluded.updated_at
"""
CLEAR = "DELETE FROM limits WHERE scope = ? AND name = ? AND origin = 'set' RETURNING 1"
UNDECLARED = """
DELETE FROM limits
WHERE scope = 'type' AND origin = 'code' AND name IN (SELECT value FROM json_each(?))
"""
RUNNING_COUNTS = f"SELECT type, queue, count(*) FROM jobs WHERE status = '{RUNNING}' GROUP BY 1, 2"


def _rows(conn: sqlite3.Connection, sql: str, params: Any = ()) -> list[ScopeLimits]:
    return merge([stored_limits(row) for row in conn.execute(sql, params)])


class SQLiteLimitControl:
    def __init__(self, db: Database, ringer: Ringer) -> None:
        self._db = db
        self._ringer = ringer

    async def limits(self) -> list[ScopeLimits]:
        return await self._db.reader.read(lambda conn: _rows(conn, LIMITS))

    async def set(self, scope: LimitScope, name: str, limits: Limits) -> ScopeLimits:
        params = {
            "scope": scope.value,
            "name": name,
            "origin": LimitOrigin.SET.value,
            "now": self._db.now(),
            **limit_values(limits),
        }

        def run(conn: sqlite3.Connection) -> list[ScopeLimits]:
            conn.execute(SET, params)
            return _rows(conn, SCOPE_LIMITS, params)

        [held] = await self._db.writer.write(run)
        self._ringer.ring()  # a limit raised: its jobs may be claimed now
        return held

    async def clear(self, scope: LimitScope, name: str) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(CLEAR, (scope.value, name)).fetchone() is not None

        cleared = await self._db.writer.write(run)
        self._ringer.ring()
        return cleared

    async def publish(self, handled: Collection[str], own: Mapping[str, Limits]) -> None:
        now = self._db.now()
        declared = [
            {
                "scope": LimitScope.TYPE.value,
                "name": name,
                "origin": LimitOrigin.CODE.value,
                "now": now,
                **limit_values(limits),
            }
            for name, limits in sorted(own.items())
        ]
        undeclared = json.dumps(sorted(set(handled) - set(own)))

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(UNDECLARED, (undeclared,))
            conn.executemany(SET, declared)

        await self._db.writer.write(run)

    async def running(self) -> list[tuple[str, str, int]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            return [(t, q, n) for t, q, n in conn.execute(RUNNING_COUNTS)]

        return await self._db.reader.read(run)
