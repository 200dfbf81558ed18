"""Paused queues on PostgreSQL: a row each in ``queue_pauses``, which the claim statement reads
(a claim that starts after ``pause`` commits takes no job of the queue); a resume wakes the
pools that work the queue (``NOTIFY``)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from jobq.domain.pauses import QueuePause
from jobq.store.postgres.context import Context
from jobq.store.postgres.sql import NOW

#: a pause holds at the statement's time
HOLDS = f"until IS NULL OR until > {NOW}"


class PauseView:
    """The pauses as this process last read them, at most ``MAX_AGE`` seconds ago: what the
    claims plan around (each claim statement also checks the pauses itself)."""

    MAX_AGE = 1.0

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._read = f"SELECT queue, until FROM {ctx.tables.pauses} WHERE {HOLDS}"
        self._pauses: list[tuple[str, datetime | None]] = []
        self._read_at = -math.inf

    async def paused(self) -> list[str]:
        """The queues paused now, as last read."""
        if time.monotonic() - self._read_at >= self.MAX_AGE:
            rows = await self._ctx.db.fetch(self._read, {"now": self._ctx.now()})
            self._pauses = [(queue, until) for queue, until in rows]
            self._read_at = time.monotonic()
        if not self._pauses:
            return []
        now = self._ctx.now() or datetime.now(UTC)
        return [queue for queue, until in self._pauses if until is None or now < until]

    def forget(self) -> None:
        """Read the pauses again at the next claim (this process changed them)."""
        self._read_at = -math.inf

    def noted(self, payload: str) -> None:
        """A notification came (``payload``: a queue whose jobs may be due, or "" after a
        reconnection): a queue that was paused may have been resumed; read the pauses again
        before the claim it wakes."""
        if payload == "" or any(queue == payload for queue, _ in self._pauses):
            self.forget()


def _pause(row: tuple[Any, ...]) -> QueuePause:
    queue, paused_at, until = row
    return QueuePause(queue, paused_at, until)


class PostgresQueueControl:
    def __init__(self, ctx: Context, view: PauseView) -> None:
        self._ctx = ctx
        self._view = view
        pauses = ctx.tables.pauses
        self._pause = f"""
            INSERT INTO {pauses} AS p (queue, paused_at, until)
            VALUES (%(queue)s, {NOW}, %(until)s)
            ON CONFLICT (queue) DO UPDATE SET
                paused_at = CASE WHEN p.until IS NULL OR p.until > {NOW}
                                 THEN p.paused_at ELSE {NOW} END,
                until = EXCLUDED.until
            RETURNING queue, paused_at, until"""
        self._resume = f"DELETE FROM {pauses} WHERE queue = %(queue)s RETURNING ({HOLDS})"
        self._pauses = f"SELECT queue, paused_at, until FROM {pauses} WHERE {HOLDS} ORDER BY queue"

    async def pause(self, queue: str, *, until: datetime | None) -> QueuePause:
        params = {"queue": queue, "until": until, "now": self._ctx.now()}
        [row] = await self._ctx.db.fetch(self._pause, params)
        self._view.forget()
        return _pause(row)

    async def resume(self, queue: str) -> bool:
        params = {"queue": queue, "now": self._ctx.now()}

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            cursor = await conn.execute(self._resume, params)
            row = await cursor.fetchone()
            await self._ctx.tables.notify(conn, {queue})  # its jobs may be claimed now
            return row is not None and bool(row[0])

        held = await self._ctx.db.run(run)
        self._view.forget()
        return held

    async def pauses(self) -> list[QueuePause]:
        rows = await self._ctx.db.fetch(self._pauses, {"now": self._ctx.now()})
        return [_pause(row) for row in rows]
