"""The PostgreSQL store: the same contract as SQLite, for many processes on many machines.

Every call is one transaction on a pooled connection, committed (``synchronous_commit`` as the
server has it, ``on`` by default) before it returns. Claims take rows with
``FOR UPDATE SKIP LOCKED``, so concurrent claimers pass each other's rows instead of waiting.
Enqueues, hand-backs and requeues NOTIFY; the listener lets a worker pool claim at once.
Each capability (``store/ports.py``) is a class of its own in this package, sharing the pool
(``context.py``).

Time: with no clock given, the statements read the database server's clock: a lease's start
and expiry, whether a job is due, every time stamp the store sets. So leases mean the same on
every machine whatever its own clock says. Times a process computes and hands in (``delay=``
on enqueue, a retry's due time) come from that process's clock. Tests pass a clock.
"""

from __future__ import annotations

from jobq.clock import Clock
from jobq.domain.errors import StoreError
from jobq.store.migrations import not_current
from jobq.store.options import PostgresOptions
from jobq.store.postgres import migrate as schema
from jobq.store.postgres.admin import PostgresAdmin
from jobq.store.postgres.claims import PostgresClaims
from jobq.store.postgres.connection import Database, resident_connector
from jobq.store.postgres.context import Context
from jobq.store.postgres.dependencies import PostgresDependencies
from jobq.store.postgres.enqueue import PostgresEnqueuer, PostgresTransactionalEnqueuer
from jobq.store.postgres.expiry import PostgresExpiry
from jobq.store.postgres.limit_control import LimitView, PostgresLimitControl
from jobq.store.postgres.listen import PostgresListener
from jobq.store.postgres.outcomes import PostgresOutcomes
from jobq.store.postgres.presence import PostgresPresence
from jobq.store.postgres.queue_control import PauseView, PostgresQueueControl
from jobq.store.postgres.reads import PostgresReads
from jobq.store.postgres.resident import Resident
from jobq.store.postgres.retention import PostgresRetention
from jobq.store.postgres.schedules import PostgresSchedules
from jobq.store.postgres.tables import Tables
from jobq.store.postgres.ticks import PostgresTicks
from jobq.store.postgres.tokens import PostgresTokens
from jobq.store.postgres.type_catalog import PostgresTypeCatalog


class PostgresStore:
    """A ``Store`` on PostgreSQL. Open it with ``await PostgresStore.open(url)``."""

    def __init__(
        self,
        url: str,
        version: schema.SchemaVersion,
        *,
        clock: Clock | None = None,
        options: PostgresOptions | None = None,
    ) -> None:
        self.url = url
        self.options = options or PostgresOptions()
        self.schema_version = version.current
        self.description = schema.describe(version.schema)
        # the process's own connection: the listener's (notify="listen"), lent to calls while
        # it only waits; with pool_size 0, the one every call takes in turn
        own = self.options.notify == "listen" or self.options.pool_size == 0
        resident = Resident(resident_connector(url, self.options)) if own else None
        self.db = Database(url, self.options, resident)
        self.ctx = Context(self.db, Tables.of(version.schema), clock)
        self.enqueuer = PostgresEnqueuer(self.ctx)
        self.transactional = PostgresTransactionalEnqueuer(self.enqueuer)
        pauses = PauseView(self.ctx)
        limits = LimitView(self.ctx)
        self.claims = PostgresClaims(self.ctx, pauses, limits)
        self.outcomes = PostgresOutcomes(self.ctx)
        self.expiry = PostgresExpiry(self.ctx)
        self.presence = PostgresPresence(self.ctx)
        self.listener = PostgresListener(
            url, self.options, self.ctx.tables.channel, resident, noted=pauses.noted
        )
        self.reads = PostgresReads(self.ctx)
        self.admin = PostgresAdmin(self.ctx)
        self.tokens = PostgresTokens(self.ctx)
        self.ticks = PostgresTicks(self.ctx, self.enqueuer)
        self.schedules = PostgresSchedules(self.ctx)
        self.retention = PostgresRetention(self.ctx)
        self.queue_control = PostgresQueueControl(self.ctx, pauses)
        self.limit_control = PostgresLimitControl(self.ctx, limits)
        self.type_catalog = PostgresTypeCatalog(self.ctx)
        self.dependencies = PostgresDependencies(self.ctx, self.enqueuer)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        options: PostgresOptions | None = None,
        migrate: bool = True,
    ) -> PostgresStore:
        """Connect, bring the schema up to date (unless ``migrate`` is False) and open the pool."""
        options = options or PostgresOptions()
        version = await (
            schema.run_migrations(url, options) if migrate else schema.read_version(url, options)
        )
        if not migrate:
            not_current(version.current, version.latest, f"PostgreSQL schema {version.schema!r}")
        if version.current == 0:
            raise StoreError(
                f"schema {version.schema!r} has no jobq tables; run `jobq migrate` first"
            )
        store = cls(url, version, clock=clock, options=options)
        await store.db.open()
        return store

    async def ping(self) -> None:
        await self.db.fetch("SELECT 1", {})

    async def close(self) -> None:
        await self.db.close()
