"""Versioned schema on PostgreSQL: ``migrations/NNNN_name.sql`` applied in order, each version
recorded in ``jobq_migrations``. Processes that start together take one advisory lock in turn,
so the first migrates and the rest find the schema current."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from jobq.domain.errors import StoreError
from jobq.store import base
from jobq.store.migrations import load_migrations

# One lock per schema: jobq fleets in two schemas of one database do not wait for each other.
LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('jobq.migrate.' || current_schema(), 0))"

_VERSIONS = """
CREATE TABLE IF NOT EXISTS jobq_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    schema: str
    current: int  # 0: no jobq tables yet
    latest: int  # the newest version this jobq ships

    def public(self) -> base.SchemaStatus:
        return base.SchemaStatus(f"PostgreSQL schema {self.schema}", self.current, self.latest)


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


async def status(conn: psycopg.AsyncConnection[Any]) -> SchemaStatus:
    """How far the schema has come, without changing it."""
    return SchemaStatus(await _schema(conn), await _current(conn), len(migrations()))


async def migrate(conn: psycopg.AsyncConnection[Any]) -> SchemaStatus:
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
    return SchemaStatus(schema, max(current, len(known)), len(known))
