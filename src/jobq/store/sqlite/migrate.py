"""Versioned schema: ``migrations/NNNN_name.sql`` applied in order; ``PRAGMA user_version``
records how far a database has come."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from jobq.domain.errors import StoreError
from jobq.store.migrations import load_migrations
from jobq.store.records import SchemaStatus
from jobq.store.sqlite.connection import translate


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) for every migration that ships with jobq, in order."""
    return load_migrations(__package__ or "")


def latest_version() -> int:
    return len(migrations())


def statements(script: str) -> list[str]:
    """Split a script into complete statements (``executescript`` would commit our transaction)."""
    found, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                found.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        raise StoreError(f"incomplete SQL statement at the end of a migration: {buffer[:80]!r}")
    return found


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date inside the caller's write transaction; return the version.

    The caller holds ``BEGIN IMMEDIATE``, so processes that start together apply each migration
    once: the second one sees the first one's version.
    """
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    known = migrations()
    if current > len(known):
        raise StoreError(
            f"the database's schema is version {current}, newer than this jobq knows "
            f"({len(known)}); upgrade jobq"
        )
    for version, script in known[current:]:
        for statement in statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    return len(known)


def read_version(path: str) -> int:
    """The schema version of the database file at ``path`` (0 if there is none), read without
    creating or changing anything. SQLite's errors come out as jobq's (a full disk:
    ``StoreFull``), as every other call of the store's."""
    if not Path(path).exists():
        return 0
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise translate(exc, f"cannot read the SQLite database {path}") from exc


def describe(path: str) -> str:
    return f"SQLite file {path}"


def status(path: str) -> SchemaStatus:
    """How far the schema of the file at ``path`` has come, changing nothing."""
    return SchemaStatus(describe(path), read_version(path), latest_version())
