"""Published job types on SQLite (the ``job_types`` table, schema 11)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from jobq.domain.ids import PoolId
from jobq.domain.published import PublishedType, TypeSpec
from jobq.store.common import from_us
from jobq.store.sqlite.database import Database

#: a process publishes before it first reports itself: only an hour's silence orphans its rows
ORPHANS = """
DELETE FROM job_types WHERE published_at < ? AND process NOT IN (SELECT id FROM processes)
"""
HOUR_US = 3600 * 1_000_000
WITHDRAW = "DELETE FROM job_types WHERE process = ?"
PUBLISH = """
INSERT INTO job_types (name, process, payload_digest, spec, published_at)
VALUES (?, ?, ?, ?, ?)
"""
PUBLISHED = """
SELECT t.name, t.process, t.payload_digest, t.spec, t.published_at
FROM job_types t JOIN processes p ON p.id = t.process
WHERE p.seen_at >= ?
ORDER BY t.name, t.process
"""


class SQLiteTypeCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(self, pool: PoolId, types: Sequence[TypeSpec]) -> None:
        now = self._db.now()
        rows = [
            (t.name, pool, t.payload_digest, json.dumps(t.spec, separators=(",", ":")), now)
            for t in types
        ]

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(WITHDRAW, (pool,))
            conn.execute(ORPHANS, (now - HOUR_US,))
            conn.executemany(PUBLISH, rows)

        await self._db.writer.write(run)

    async def withdraw(self, pool: PoolId) -> None:
        await self._db.writer.write(lambda conn: conn.execute(WITHDRAW, (pool,)))

    async def published(self, *, max_age: float) -> list[PublishedType]:
        since = self._db.now() - round(max_age * 1_000_000)

        def run(conn: sqlite3.Connection) -> list[PublishedType]:
            return [
                PublishedType(
                    type=TypeSpec(name=name, spec=json.loads(spec), payload_digest=digest),
                    process=PoolId(process),
                    published_at=from_us(published_at),
                )
                for name, process, digest, spec, published_at in conn.execute(PUBLISHED, (since,))
            ]

        return await self._db.reader.read(run)
