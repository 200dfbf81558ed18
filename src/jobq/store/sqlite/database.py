"""One SQLite database as the store's parts share it: a writer connection on a thread of its
own (``BEGIN IMMEDIATE``, group commit), a reader connection on another (WAL: reads never wait
for a write), and the store's clock."""

from __future__ import annotations

from dataclasses import dataclass

from jobq.clock import Clock
from jobq.store.sqlite.connection import ThreadConnection
from jobq.store.sqlite.rows import to_us


@dataclass(frozen=True, slots=True)
class Database:
    path: str
    writer: ThreadConnection
    reader: ThreadConnection
    clock: Clock
    busy_timeout: float

    @classmethod
    def at(cls, path: str, *, clock: Clock, busy_timeout: float, synchronous: str) -> Database:
        writer, reader = (
            ThreadConnection(path, name=name, busy_timeout=busy_timeout, synchronous=synchronous)
            for name in ("jobq-sqlite-w", "jobq-sqlite-r")
        )
        return cls(path, writer, reader, clock, busy_timeout)

    def now(self) -> int:
        """The clock's time as the store writes times."""
        return to_us(self.clock.now())

    async def close(self) -> None:
        await self.writer.close()
        await self.reader.close()
