"""Versioned schema on PostgreSQL: ``migrations/NNNN_name.sql`` applied in order, each version
recorded in ``jobq_migrations``. Processes that start together take one advisory lock in turn,
so the first migrates and the rest find the schema current."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg

from jobq.domain.errors import StoreError
from jobq.store.migrations import load_migrations
from jobq.store.options import PostgresOptions
from jobq.store.postgres.connection import connect, translate
from jobq.store.records import SchemaStatus

T = TypeVar("T")

# One lock per schema: jobq fleets in two schemas of one database do not wait for each other.
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('jobq.migrate.' || current_schema(), 0))"

_VERSIONS = """
CREATE TABLE IF NOT EXISTS jobq_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class SchemaVersion:
    """The schema jobq's tables are in, and how far it has come."""

    schema: str
    current: int  # 0: no jobq tables yet
    latest: int  # the newest version this jobq ships

    def status(self) -> SchemaStatus:
        return SchemaStatus(describe(self.schema), self.current, self.latest)


def describe(schema: str) -> str:
    return f"PostgreSQL schema {schema}"


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) for every migration that ships with jobq, in order."""
    return load_migrations(__package__ or "")


async def _schema(conn: psycopg.AsyncConnection[Any]) -> str:
    row = await (await conn.execute("SELECT current_schema()")).fetchone()
    if row is None or row[0] is None:
        path = await (await conn.execute("SHOW search_path")).fetchone()
        raise StoreError(
            f"no schema of the search_path ({path[0] if path else '?'}) exists; create it, or "
            f"name an existing one with options=-csearch_path=NAME in the database URL"
        )
    return str(row[0])


async def _current(conn: psycopg.AsyncConnection[Any]) -> int:
    exists = await (
        await conn.execute("SELECT to_regclass(format('%I.jobq_migrations', current_schema()))")
    ).fetchone()
    if exists is None or exists[0] is None:
        return 0
    row = await (
        await conn.execute("SELECT coalesce(max(version), 0) FROM jobq_migrations")
    ).fetchone()
    return int(row[0]) if row else 0


async def version(conn: psycopg.AsyncConnection[Any]) -> SchemaVersion:
    """How far the schema has come, without changing it."""
    return SchemaVersion(await _schema(conn), await _current(conn), len(migrations()))


async def migrate(conn: psycopg.AsyncConnection[Any]) -> SchemaVersion:
    """Apply what is missing, in one transaction under the schema's advisory lock.

    A schema newer than this jobq is left alone: migrations are additive, so an older process
    keeps working while a fleet is upgraded one machine at a time (docs/deployment.md).
    """
    async with conn.transaction():
        schema = await _schema(conn)
        # A long migration, or the wait for another process's, is not a stuck statement.
        await conn.execute("SET LOCAL statement_timeout = 0")
        await conn.execute(LOCK)
        await conn.execute(_VERSIONS)
        current = await _current(conn)
        known = migrations()
        for version, script in known[current:]:
            await conn.execute(script.encode())  # several statements: the simple protocol
            await conn.execute("INSERT INTO jobq_migrations (version) VALUES (%s)", (version,))
    return SchemaVersion(schema, max(current, len(known)), len(known))


async def run_migrations(url: str, options: PostgresOptions) -> SchemaVersion:
    """Bring the schema at ``url`` up to date (what ``jobq migrate`` does)."""
    return await _on_own_connection(url, options, migrate, autocommit=False)


async def read_version(url: str, options: PostgresOptions) -> SchemaVersion:
    """How far the schema at ``url`` has come, changing nothing."""
    return await _on_own_connection(url, options, version, autocommit=True)


async def _on_own_connection(
    url: str,
    options: PostgresOptions,
    work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    *,
    autocommit: bool,
) -> T:
    """Run ``work`` on a connection of its own (not the pool's), then close it."""
    conn = await connect(url, options, autocommit=autocommit)
    try:
        return await work(conn)
    except psycopg.Error as exc:
        raise translate(exc) from exc
    finally:
        await conn.close()
