"""Stores: the source of truth for jobs. ``open_store`` picks one by the URL's scheme and
imports its driver only then. The capabilities a store offers are in ``ports.py``; what a claim
may take, in ``claim.py``; what both backends share, in ``common.py``."""

from __future__ import annotations

import asyncio

from jobq.clock import Clock
from jobq.domain.errors import UnsupportedStore
from jobq.store.claim import ClaimRequest
from jobq.store.options import PostgresOptions
from jobq.store.ports import Store
from jobq.store.records import Completion, Expired, Failure, JobFilter, Page, SchemaStatus
from jobq.store.url import DatabaseURL, parse_database_url, redact

__all__ = [
    "ClaimRequest",
    "Completion",
    "Expired",
    "Failure",
    "JobFilter",
    "Page",
    "PostgresOptions",
    "SchemaStatus",
    "Store",
    "open_store",
    "run_migrations",
    "schema_status",
]


async def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    postgres: PostgresOptions | None = None,
    migrate: bool = True,
) -> Store:
    """Open the store that ``url`` names and bring its schema up to date. ``migrate=False``
    (commands that only read): create and change nothing; a database that does not exist, or
    whose schema is not this jobq's, is a ``StoreError`` saying so. ``clock``: None for the
    real time (on PostgreSQL, the server's)."""
    parsed = _parse(url)
    if parsed.scheme == "postgresql":
        try:
            from jobq.store.postgres import PostgresStore
        except ImportError as exc:
            raise UnsupportedStore(
                f"the PostgreSQL store needs psycopg ({exc}); install jobq with its "
                "postgres extra: pip install '.[postgres]' in a checkout of jobq"
            ) from exc
        return await PostgresStore.open(parsed.path, clock=clock, options=postgres, migrate=migrate)
    from jobq.store.sqlite import SQLiteStore

    return await SQLiteStore.open(parsed.path, clock=clock, migrate=migrate)


async def run_migrations(url: str, *, postgres: PostgresOptions | None = None) -> SchemaStatus:
    """Bring the schema at ``url`` up to date (``jobq migrate``)."""
    parsed = _parse(url)
    if parsed.scheme == "postgresql":
        from jobq.store.postgres import migrate

        return (await migrate.run_migrations(parsed.path, postgres or PostgresOptions())).status()
    from jobq.store.sqlite import SQLiteStore
    from jobq.store.sqlite import migrate as sqlite_migrate

    store = await SQLiteStore.open(parsed.path)
    await store.close()
    return SchemaStatus(store.description, store.schema_version, sqlite_migrate.latest_version())


async def schema_status(url: str, *, postgres: PostgresOptions | None = None) -> SchemaStatus:
    """How far the schema at ``url`` has come, changing nothing (``jobq migrate --check``)."""
    parsed = _parse(url)
    if parsed.scheme == "postgresql":
        from jobq.store.postgres import migrate

        return (await migrate.read_version(parsed.path, postgres or PostgresOptions())).status()
    from jobq.store.sqlite import migrate as sqlite_migrate

    return await asyncio.to_thread(sqlite_migrate.status, parsed.path)


def _parse(url: str) -> DatabaseURL:
    try:
        return parse_database_url(url)
    except ValueError as exc:
        raise UnsupportedStore(f"database URL {redact(url)!r}: {exc}") from exc
