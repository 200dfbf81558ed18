"""The embedded SQLite store."""

from __future__ import annotations

from jobq.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
