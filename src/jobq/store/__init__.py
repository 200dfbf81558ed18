"""Stores: the source of truth for jobs. ``open_store`` picks one by the URL's scheme."""

from __future__ import annotations

from typing import Any

from jobq.clock import Clock
from jobq.domain.errors import UnsupportedStore
from jobq.store.base import Expired, JobAdmin, JobFilter, JobReader, JobStore, Page, Store
from jobq.store.url import parse_database_url

__all__ = [
    "Expired",
    "JobAdmin",
    "JobFilter",
    "JobReader",
    "JobStore",
    "Page",
    "Store",
    "open_store",
]


async def open_store(url: str, *, clock: Clock | None = None, **options: Any) -> Store:
    """Open the store that ``url`` names and bring its schema up to date."""
    try:
        parsed = parse_database_url(url)
    except ValueError as exc:
        raise UnsupportedStore(f"database URL {url!r}: {exc}") from exc
    from jobq.store.sqlite import SQLiteStore  # imported lazily: each store has its own driver

    return await SQLiteStore.open(parsed.path, clock=clock, **options)
