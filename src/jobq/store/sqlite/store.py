"""The SQLite store: the embedded default, one file, no set-up.

Every write is one ``BEGIN IMMEDIATE`` transaction on the writer thread, committed with
``synchronous=FULL`` before the call returns. Reads go through a second connection on a second
thread, so listing jobs never waits behind a write (WAL lets readers and a writer overlap).
Each capability (``store/ports.py``) is a class of its own in this package, sharing the two
connections (``database.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from jobq.clock import Clock, SystemClock
from jobq.domain.errors import StoreError
from jobq.store.migrations import not_current
from jobq.store.sqlite.admin import SQLiteAdmin
from jobq.store.sqlite.claims import SQLiteClaims
from jobq.store.sqlite.connection import check_sqlite_version
from jobq.store.sqlite.database import Database
from jobq.store.sqlite.dependencies import SQLiteDependencies, settle
from jobq.store.sqlite.enqueue import SQLiteEnqueuer
from jobq.store.sqlite.expiry import SQLiteExpiry
from jobq.store.sqlite.limit_control import SQLiteLimitControl
from jobq.store.sqlite.migrate import describe, latest_version, read_version
from jobq.store.sqlite.migrate import migrate as bring_up_to_date
from jobq.store.sqlite.outcomes import SQLiteOutcomes
from jobq.store.sqlite.presence import SQLitePresence
from jobq.store.sqlite.queue_control import SQLiteQueueControl
from jobq.store.sqlite.reads import SQLiteReads
from jobq.store.sqlite.retention import SQLiteRetention
from jobq.store.sqlite.schedules import SQLiteSchedules
from jobq.store.sqlite.ticks import SQLiteTicks
from jobq.store.sqlite.tokens import SQLiteTokens
from jobq.store.sqlite.type_catalog import SQLiteTypeCatalog
from jobq.store.sqlite.watch import SQLiteListener


class SQLiteStore:
    """A ``Store`` on one SQLite file. Open it with ``await SQLiteStore.open(path)``."""

    #: enqueue inside a caller's own transaction needs PostgreSQL; jobq's own transaction
    #: already makes each enqueue durable here
    transactional = None

    def __init__(
        self,
        path: str,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 10.0,
        synchronous: str = "FULL",
    ) -> None:
        check_sqlite_version()
        self.path = path
        self.description = describe(path)
        self.schema_version = 0
        self.db = Database.at(
            path, clock=clock or SystemClock(), busy_timeout=busy_timeout, synchronous=synchronous
        )
        self.enqueuer = SQLiteEnqueuer(self.db)
        self.claims = SQLiteClaims(self.db)
        self.outcomes = SQLiteOutcomes(self.db)
        self.expiry = SQLiteExpiry(self.db)
        self.presence = SQLitePresence(self.db)
        self.listener = SQLiteListener(path, busy_timeout=busy_timeout)
        self.reads = SQLiteReads(self.db)
        self.admin = SQLiteAdmin(self.db, self.enqueuer.ringer)
        self.tokens = SQLiteTokens(self.db)
        self.ticks = SQLiteTicks(self.db, self.enqueuer)
        self.schedules = SQLiteSchedules(self.db)
        self.retention = SQLiteRetention(self.db)
        self.queue_control = SQLiteQueueControl(self.db, self.enqueuer.ringer)
        self.limit_control = SQLiteLimitControl(self.db, self.enqueuer.ringer)
        self.type_catalog = SQLiteTypeCatalog(self.db)
        self.dependencies = SQLiteDependencies(self.db, self.enqueuer)

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 10.0,
        migrate: bool = True,
    ) -> SQLiteStore:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date;
        ``migrate=False``: open only an existing database whose schema is this jobq's."""
        if migrate:
            await asyncio.to_thread(_check_directory, path)
        else:
            await asyncio.to_thread(_check_current, path)
        store = cls(path, clock=clock, busy_timeout=busy_timeout)
        try:
            if migrate:
                store.schema_version = await store.db.writer.write(bring_up_to_date)
            else:
                store.schema_version = latest_version()
            # from now on every write settles what waits for the jobs it ended (schema 12)
            store.db.writer.before_commit = settle(store.db.now)
            store.db.writer.after_commit = store.enqueuer.ringer.ring
        except BaseException:
            await store.close()
            raise
        return store

    async def ping(self) -> None:
        await self.db.reader.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        self.enqueuer.ringer.close()
        await self.db.close()


def _check_current(path: str) -> None:
    """The database at ``path`` exists and its schema is this jobq's, or ``StoreError``."""
    where = Path(path).resolve()
    if not where.is_file():
        raise StoreError(
            f"no jobq database at {where}: point JOBQ_DATABASE_URL (or --database-url) at the "
            "database your jobq service uses"
        )
    not_current(read_version(path), latest_version(), f"the SQLite database {where}")


def _check_directory(path: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise StoreError(f"cannot create the SQLite database {path}: {parent} is not a directory")
