"""Wake-ups on PostgreSQL: one connection of its own LISTENs on the schema's channel, and is lent
to the store's calls while it only waits (``resident.py``). With ``notify="poll"`` there is no
such connection: the pool claims every poll interval."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import psycopg
import structlog
from psycopg import sql as pgsql
from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.store.options import PostgresOptions
from jobq.store.postgres.connection import connect
from jobq.store.postgres.resident import Resident
from jobq.store.url import redact

logger: FilteringBoundLogger = structlog.get_logger("jobq.store")

CHECK_SECONDS = 15.0  # how often a quiet LISTEN connection is checked for life
MAX_BACKOFF = 10.0
APPLICATION = "jobq-listen"


class PostgresListener:
    def __init__(
        self, url: str, options: PostgresOptions, channel: str, resident: Resident | None = None
    ) -> None:
        self._direct = options.listen_url is not None
        self._url = options.listen_url or url
        self._options = options
        self._channel = channel
        self._resident = resident or Resident()
        self._resident_taken = False
        #: the server process of the LISTEN connection while one is up (for operators: it is
        #: the row of pg_stat_activity with application_name jobq-listen)
        self.backend_pid: int | None = None

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` for every NOTIFY of due jobs, until cancelled. A lost connection
        is made again (with capped backoff), then ``wake(None)``: anything sent meanwhile."""
        log = logger.bind(channel=self._channel)
        if self._options.notify == "poll":
            log.info("listen_skipped", reason="JOBQ_NOTIFY=poll")
            await asyncio.Event().wait()  # until cancelled: the pool polls
        # Two pools of one process on one store: the first one's connection is lent to calls.
        resident, self._resident_taken = (
            (Resident(), True) if self._resident_taken else (self._resident, True)
        )
        try:
            await self._listen(wake, log, resident)
        finally:
            if resident is self._resident:
                self._resident_taken = False

    async def _listen(
        self, wake: Callable[[str | None], None], log: FilteringBoundLogger, resident: Resident
    ) -> None:
        delay = 0.1
        while True:
            try:
                conn = await connect(
                    self._url, self._options, direct=self._direct, application_name=APPLICATION
                )
            except StoreError as exc:
                log.warning("listen_failed", error=str(exc), retry_in=delay, url=self._shown())
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            try:
                await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self._channel)))
                await conn.commit()
                self.backend_pid = conn.info.backend_pid
                log.info("listen_started", backend_pid=self.backend_pid)
                delay = 0.1
                resident.attach(conn)
                wake(None)
                await self._serve(conn, wake, resident)
            except psycopg.Error as exc:
                log.warning("listen_lost", error=str(exc).strip(), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except Exception:  # a bug here must not stop the pool: polling still works
                log.exception("listen_lost", retry_in=MAX_BACKOFF)
                await asyncio.sleep(MAX_BACKOFF)
            finally:
                resident.detach()
                self.backend_pid = None
                await _stop_waiter(resident)
                await conn.close()

    def _shown(self) -> str | None:
        return redact(self._url) if self._direct else None

    async def _serve(
        self,
        conn: psycopg.AsyncConnection[Any],
        wake: Callable[[str | None], None],
        resident: Resident,
    ) -> None:
        """Hear notifications while the connection is not lent; return never, raise when it
        is lost."""
        while True:
            if resident.lent:
                await resident.returned()
                continue
            if conn.closed or conn.broken:
                raise psycopg.OperationalError("the LISTEN connection was closed")
            waiter = asyncio.create_task(self._hear(conn, wake))
            resident.waiter = waiter
            try:
                await asyncio.wait({waiter})
            finally:
                resident.waiter = None
                if not waiter.done():  # the listener itself is being cancelled
                    waiter.cancel()
                    await asyncio.gather(waiter, return_exceptions=True)
            if waiter.cancelled():  # lent to a call meanwhile
                continue
            if waiter.result() == 0 and not resident.lent:
                # quiet for a while: is the server there? (the notifications wait in psycopg's
                # backlog meanwhile; a call that wants the connection takes a pooled one)
                resident.lend()
                try:
                    await conn.execute("SELECT 1")
                    await conn.rollback()
                finally:
                    resident.give_back()

    @staticmethod
    async def _hear(conn: psycopg.AsyncConnection[Any], wake: Callable[[str | None], None]) -> int:
        heard = 0
        async for note in conn.notifies(timeout=CHECK_SECONDS):
            wake(note.payload)
            heard += 1
        return heard


async def _stop_waiter(resident: Resident) -> None:
    waiter = resident.waiter
    if waiter is not None and not waiter.done():
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
