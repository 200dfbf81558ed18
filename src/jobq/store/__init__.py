"""Stores: the source of truth for jobs. ``open_store`` picks one by the URL's scheme."""

from __future__ import annotations

import asyncio
import sqlite3

from jobq.clock import Clock
from jobq.domain.errors import StoreError, UnsupportedStore
from jobq.store.base import (
    Expired,
    JobAdmin,
    JobFilter,
    JobReader,
    JobStore,
    Listens,
    Page,
    SchemaStatus,
    Store,
)
from jobq.store.options import PostgresOptions
from jobq.store.url import DatabaseURL, parse_database_url, redact

__all__ = [
    "Expired",
    "JobAdmin",
    "JobFilter",
    "JobReader",
    "JobStore",
    "Listens",
    "Page",
    "PostgresOptions",
    "Store",
    "open_store",
]


async def open_store(
    url: str,
    *,
    clock: Clock | None = None,
    postgres: PostgresOptions | None = None,
    migrate: bool = True,
) -> Store:
    """Open the store that ``url`` names and bring its schema up to date (PostgreSQL: unless
    ``migrate`` is False). ``clock``: None for the real time (on PostgreSQL, the server's)."""
    parsed = _parse(url)
    # Each store is imported only when chosen: each has its own driver.
    if parsed.scheme == "postgresql":
        try:
            from jobq.store.postgres import PostgresStore
        except ImportError as exc:
            raise UnsupportedStore(
                f"the PostgreSQL store needs psycopg ({exc}); install it with "
                f"pip install 'jobq[postgres]'"
            ) from exc
        return await PostgresStore.open(parsed.path, clock=clock, options=postgres, migrate=migrate)
    from jobq.store.sqlite import SQLiteStore

    return await SQLiteStore.open(parsed.path, clock=clock)


async def run_migrations(url: str, *, postgres: PostgresOptions | None = None) -> SchemaStatus:
    """Bring the schema at ``url`` up to date (``jobq migrate``)."""
    parsed = _parse(url)
    if parsed.scheme == "postgresql":
        from jobq.store.postgres.store import run_migrations as migrate_postgres

        return (await migrate_postgres(parsed.path, postgres)).public()
    from jobq.store.sqlite import SQLiteStore
    from jobq.store.sqlite.migrate import latest_version

    store = await SQLiteStore.open(parsed.path)
    await store.close()
    return SchemaStatus(f"SQLite file {parsed.path}", store.schema_version, latest_version())


async def schema_status(url: str, *, postgres: PostgresOptions | None = None) -> SchemaStatus:
    """How far the schema at ``url`` has come, changing nothing (``jobq migrate --check``)."""
    parsed = _parse(url)
    if parsed.scheme == "postgresql":
        from jobq.store.postgres.store import schema_status as postgres_status

        return (await postgres_status(parsed.path, postgres)).public()
    from jobq.store.sqlite.migrate import latest_version, read_version

    try:
        current = await asyncio.to_thread(read_version, parsed.path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the SQLite database {parsed.path}: {exc}") from exc
    return SchemaStatus(f"SQLite file {parsed.path}", current, latest_version())


def _parse(url: str) -> DatabaseURL:
    try:
        return parse_database_url(url)
    except ValueError as exc:
        raise UnsupportedStore(f"database URL {redact(url)!r}: {exc}") from exc
