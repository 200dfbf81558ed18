"""Wake-ups on PostgreSQL: one connection of its own LISTENs on the schema's channel."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import structlog
from psycopg import sql as pgsql
from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.store.options import PostgresOptions
from jobq.store.postgres.connection import connect

logger: FilteringBoundLogger = structlog.get_logger("jobq.store")

CHECK_SECONDS = 15.0  # how often an idle LISTEN connection is checked for life
MAX_BACKOFF = 10.0
APPLICATION = "jobq-listen"


class PostgresListener:
    def __init__(self, url: str, options: PostgresOptions, channel: str) -> None:
        self._url = url
        self._options = options
        self._channel = channel
        #: the server process of the LISTEN connection while one is up (for operators: it is
        #: the row of pg_stat_activity with application_name jobq-listen)
        self.backend_pid: int | None = None

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` for every NOTIFY of due jobs, until cancelled. A lost connection
        is made again (with capped backoff), then ``wake(None)``: anything sent meanwhile."""
        log = logger.bind(channel=self._channel)
        delay = 0.1
        while True:
            try:
                conn = await connect(
                    self._url, self._options, autocommit=True, application_name=APPLICATION
                )
            except StoreError as exc:
                log.warning("listen_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            try:
                await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(self._channel)))
                self.backend_pid = conn.info.backend_pid
                log.info("listen_started", backend_pid=self.backend_pid)
                delay = 0.1
                wake(None)
                while True:
                    async for note in conn.notifies(timeout=CHECK_SECONDS):
                        wake(note.payload)
                    await conn.execute("SELECT 1")  # quiet for a while: is the server there?
            except psycopg.Error as exc:
                log.warning("listen_lost", error=str(exc).strip(), retry_in=delay)
                await asyncio.sleep(delay)
            except Exception:  # a bug here must not stop the pool: polling still works
                log.exception("listen_lost", retry_in=MAX_BACKOFF)
                await asyncio.sleep(MAX_BACKOFF)
            finally:
                self.backend_pid = None
                await conn.close()
