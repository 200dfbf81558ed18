"""The listener's connection, lent to the store's calls while the listener only waits.

A worker process that LISTENs holds one connection of its own for it anyway. Most of what an
idle pool does (a claim every poll interval, the reaper, presence, the heartbeat) runs on that
same connection instead of keeping a pooled one open beside it, so an idle worker process holds
one connection, not two, and the pool's connections are closed once unused
(``POOL_MAX_IDLE``). A call finds the connection lent or down and takes a pooled one instead.

The connection is not in autocommit, as pooled ones are not: a call runs in one transaction,
committed if it returns and rolled back if it raises; notifications that arrive meanwhile wait
in psycopg's backlog and are heard when it is given back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg


class Resident:
    def __init__(self) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lent = False
        self._returned = asyncio.Event()
        self._returned.set()
        #: the listener's wait for notifications: cancelled when the connection is lent
        self.waiter: asyncio.Task[Any] | None = None

    def attach(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The listener's connection is up and LISTENing."""
        self._conn = conn

    def detach(self) -> None:
        """The listener's connection is lost or closing: lend it no more."""
        self._conn = None

    def lend(self) -> psycopg.AsyncConnection[Any] | None:
        """The connection, for one call, if it is up and free; None otherwise. The caller
        gives it back with ``give_back``."""
        conn = self._conn
        if conn is None or self._lent or conn.closed or conn.broken:
            return None
        self._lent = True
        self._returned.clear()
        if self.waiter is not None:
            self.waiter.cancel()  # the call's first statement waits for psycopg's lock
        return conn

    def give_back(self) -> None:
        self._lent = False
        self._returned.set()

    @property
    def lent(self) -> bool:
        return self._lent

    async def returned(self) -> None:
        await self._returned.wait()
