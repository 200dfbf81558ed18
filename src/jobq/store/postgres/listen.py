"""Wake-ups on PostgreSQL: the process's own connection (``resident.py``) LISTENs on the schema's
channel, and runs the store's calls while it only waits. With ``notify="poll"`` nothing LISTENs:
the pool claims every poll interval."""

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
from jobq.store.postgres.connection import resident_connector
from jobq.store.postgres.resident import Resident
from jobq.store.url import redact

logger: FilteringBoundLogger = structlog.get_logger("jobq.store")

CHECK_SECONDS = 15.0  # how often a quiet LISTEN connection is checked for life
MAX_BACKOFF = 2.0  # a lost LISTEN connection is made again at least this often


class PostgresListener:
    def __init__(
        self,
        url: str,
        options: PostgresOptions,
        channel: str,
        resident: Resident | None = None,
        *,
        noted: Callable[[str], None] | None = None,
    ) -> None:
        #: told of every notification's payload first (the pause view: a resumed queue's
        #: NOTIFY makes it read the pauses again before the pool's claim)
        self._noted = noted
        self._options = options
        self._channel = channel
        self._connector = resident_connector(url, options)
        self._resident = resident or Resident(self._connector)
        self._resident_taken = False
        #: the server process of the LISTEN connection while one is up (for operators: it is
        #: the row of pg_stat_activity with application_name jobq-listen)
        self.backend_pid: int | None = None

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` for every NOTIFY of due jobs, until cancelled. A lost connection
        is made again (with capped backoff), then ``wake(None)``: anything sent meanwhile."""
        log = logger.bind(channel=self._channel)
        noted, told = self._noted, wake
        if noted is not None:

            def wake(payload: str | None) -> None:
                if payload is not None:
                    noted(payload)
                else:  # after a reconnection: anything may have changed
                    noted("")
                told(payload)

        if self._options.notify == "poll":
            log.info("listen_skipped", reason="JOBQ_NOTIFY=poll")
            await asyncio.Event().wait()  # until cancelled: the pool polls
        # Two pools of one process on one store: the first one's connection is lent to calls,
        # the second one's is its own.
        shared = not self._resident_taken
        resident = self._resident if shared else Resident(self._connector)
        self._resident_taken = True
        try:
            await self._listen(wake, log, resident)
        finally:
            self.backend_pid = None
            await _stop_waiter(resident)
            if shared:
                self._resident_taken = False
            else:
                await resident.close()

    async def _listen(
        self, wake: Callable[[str | None], None], log: FilteringBoundLogger, resident: Resident
    ) -> None:
        delay = 0.1
        while True:
            try:
                conn = await resident.borrow()
            except StoreError as exc:
                log.warning("listen_failed", error=str(exc), retry_in=delay, url=self._shown())
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            try:
                try:
                    fresh = resident.listening is not conn
                    if fresh:
                        query = pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self._channel))
                        await conn.execute(query)
                        await conn.commit()
                        resident.listening = conn
                finally:
                    resident.give_back()
                if fresh:
                    self.backend_pid = conn.info.backend_pid
                    log.info("listen_started", backend_pid=self.backend_pid)
                    delay = 0.1
                    wake(None)
                await self._serve(conn, wake, resident)
            except psycopg.Error as exc:
                log.warning("listen_lost", error=str(exc).strip(), retry_in=delay)
                await self._lost(resident, conn, delay)
                delay = min(delay * 2, MAX_BACKOFF)
            except Exception:  # a bug here must not stop the pool: polling still works
                log.exception("listen_lost", retry_in=MAX_BACKOFF)
                await self._lost(resident, conn, MAX_BACKOFF)

    async def _lost(
        self, resident: Resident, conn: psycopg.AsyncConnection[Any], delay: float
    ) -> None:
        self.backend_pid = None
        await _stop_waiter(resident)
        if resident.current is conn and not resident.lent:
            await resident.drop(conn)
        await asyncio.sleep(delay)

    def _shown(self) -> str | None:
        return redact(self._options.listen_url) if self._options.listen_url else None

    async def _serve(
        self,
        conn: psycopg.AsyncConnection[Any],
        wake: Callable[[str | None], None],
        resident: Resident,
    ) -> None:
        """Hear notifications while the connection is not lent; return when a call has made
        another one meanwhile (which must LISTEN), raise when it is lost."""
        while True:
            if resident.lent:
                await resident.returned()
                continue
            if resident.current is not conn:
                return  # a call made a new connection after this one was lost
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
            if waiter.result() == 0:
                await self._check(conn, resident)

    @staticmethod
    async def _check(conn: psycopg.AsyncConnection[Any], resident: Resident) -> None:
        """Quiet for a while: is the server there? (Notifications wait in psycopg's backlog
        meanwhile; a call that wants the connection waits, or takes a pooled one.)"""
        lent = resident.lend()
        if lent is None:
            return
        try:
            if lent is conn:
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
