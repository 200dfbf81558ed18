"""The PostgreSQL store: many processes on many machines, one database."""

from __future__ import annotations

from jobq.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
