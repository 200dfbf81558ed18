"""Worker pools reporting themselves on PostgreSQL (the ``processes`` table)."""

from __future__ import annotations

from typing import Any

import psycopg

from jobq.domain.ids import PoolId
from jobq.domain.job import ProcessInfo
from jobq.store.common import process_row
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW


class PostgresPresence:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        processes = ctx.tables.processes
        self._report = f"""
            INSERT INTO {processes} (id, host, pid, workers, busy, buffered, queues, types,
                                     started_at, seen_at)
            VALUES (%(id)s, %(host)s, %(pid)s, %(workers)s, %(busy)s, %(buffered)s,
                    %(queues)s::json, %(types)s::json, %(started_at)s, {NOW})
            ON CONFLICT (id) DO UPDATE SET workers = excluded.workers, busy = excluded.busy,
                buffered = excluded.buffered, queues = excluded.queues, types = excluded.types,
                seen_at = excluded.seen_at
        """
        self._prune = f"DELETE FROM {processes} WHERE seen_at < {NOW} - interval '1 hour'"
        self._forget = f"DELETE FROM {processes} WHERE id = %(id)s"

    async def report(self, info: ProcessInfo) -> None:
        params = {
            **process_row(info, lambda moment: moment),
            "now": self._ctx.now(),
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._report, params)
            await conn.execute(self._prune, {"now": params["now"]})

        await self._ctx.db.run(run)

    async def forget(self, pool: PoolId) -> None:
        await self._ctx.db.changed(self._forget, {"id": pool})
