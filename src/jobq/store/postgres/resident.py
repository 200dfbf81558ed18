"""The process's own connection: it LISTENs for a worker pool and runs the store's calls in turn.

With ``pool_size=0`` (the default of ``jobq worker``) it is the process's only connection to
PostgreSQL: every call waits its turn for it, and it is made by the first call or by the
listener, whichever comes first, and made again by the next one after it is lost. A worker
process then holds one connection, busy or idle, at start-up as afterwards.

With a pool, a call takes it only when it is up and free, and a pooled connection otherwise;
only the listener makes it. An idle worker process holds this one connection and no pooled one.

The connection is not in autocommit, as pooled ones are not: a call runs in one transaction,
committed if it returns and rolled back if it raises; notifications that arrive meanwhile wait
in psycopg's backlog and are heard when it is given back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg


class Resident:
    def __init__(self, connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]) -> None:
        self._connect = connect
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lent = False
        self._returned = asyncio.Event()
        self._returned.set()
        #: the connection that LISTENs (the listener's business): a new one must LISTEN again
        self.listening: psycopg.AsyncConnection[Any] | None = None
        #: the listener's wait for notifications: cancelled when the connection is lent
        self.waiter: asyncio.Task[Any] | None = None

    @property
    def current(self) -> psycopg.AsyncConnection[Any] | None:
        return self._conn

    def lend(self) -> psycopg.AsyncConnection[Any] | None:
        """The connection, for one call, if it is up and free; None otherwise (the caller takes
        a pooled one). The caller gives it back with ``give_back``."""
        conn = self._conn
        if conn is None or self._lent or conn.closed or conn.broken:
            return None
        self._take()
        return conn

    async def borrow(self) -> psycopg.AsyncConnection[Any]:
        """The connection, for one call, once it is free; made first if there is none (or it
        was lost). Raises ``StoreError`` if it cannot be made. Given back with ``give_back``."""
        while self._lent:
            await self._returned.wait()
        self._take()
        try:
            conn = self._conn
            if conn is None or conn.closed or conn.broken:
                self._conn = self.listening = None
                if conn is not None:
                    await conn.close()
                conn = self._conn = await self._connect()
            return conn
        except BaseException:
            self.give_back()
            raise

    def _take(self) -> None:
        self._lent = True
        self._returned.clear()
        if self.waiter is not None:
            self.waiter.cancel()  # the call's first statement waits for psycopg's lock

    def give_back(self) -> None:
        self._lent = False
        self._returned.set()

    @property
    def lent(self) -> bool:
        return self._lent

    async def returned(self) -> None:
        await self._returned.wait()

    async def drop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """``conn`` is lost or failed a call: close it; the next borrower makes another."""
        if self._conn is conn:
            self._conn = None
        if self.listening is conn:
            self.listening = None
        await conn.close()

    async def close(self) -> None:
        conn, self._conn, self.listening = self._conn, None, None
        if conn is not None:
            await conn.close()
