"""Published job types on PostgreSQL (the ``job_types`` table, schema 11)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg.types.json import Json

from jobq.domain.ids import PoolId
from jobq.domain.published import PublishedType, TypeSpec
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW


class PostgresTypeCatalog:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        types, processes = ctx.tables.job_types, ctx.tables.processes
        self._withdraw = f"DELETE FROM {types} WHERE process = %(pool)s"
        # a process publishes before it first reports itself: only an hour's silence orphans
        self._orphans = f"""
            DELETE FROM {types} WHERE published_at < {NOW} - interval '1 hour'
                AND process NOT IN (SELECT id FROM {processes})"""
        self._publish = f"""
            INSERT INTO {types} (name, process, payload_digest, spec, published_at)
            SELECT name, %(pool)s, digest, spec, {NOW}
            FROM unnest(%(names)s::text[], %(digests)s::text[], %(specs)s::json[])
                AS t(name, digest, spec)"""
        self._published = f"""
            SELECT t.name, t.process, t.payload_digest, t.spec, t.published_at
            FROM {types} t JOIN {processes} p ON p.id = t.process
            WHERE p.seen_at >= {NOW} - %(max_age)s::float8 * interval '1 second'
            ORDER BY t.name, t.process"""

    async def publish(self, pool: PoolId, types: Sequence[TypeSpec]) -> None:
        params = {
            "pool": pool,
            "now": self._ctx.now(),
            "names": [t.name for t in types],
            "digests": [t.payload_digest for t in types],
            "specs": [Json(t.spec) for t in types],
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._withdraw, params)
            await conn.execute(self._orphans, params)
            await conn.execute(self._publish, params)

        await self._ctx.db.run(run)

    async def withdraw(self, pool: PoolId) -> None:
        await self._ctx.db.changed(self._withdraw, {"pool": pool})

    async def published(self, *, max_age: float) -> list[PublishedType]:
        rows = await self._ctx.db.fetch(
            self._published, {"now": self._ctx.now(), "max_age": max_age}
        )
        return [
            PublishedType(
                type=TypeSpec(name=name, spec=spec, payload_digest=digest),
                process=PoolId(process),
                published_at=published_at,
            )
            for name, process, digest, spec, published_at in rows
        ]
