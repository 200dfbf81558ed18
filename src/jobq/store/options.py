"""Options a store takes beyond its URL. Plain data, importable without any database driver."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresOptions:
    #: connections this process opens at most (API requests, claims, acknowledgements, the
    #: reaper); one more is held for LISTEN while a worker pool runs
    pool_size: int = 10
    #: seconds to wait for a new connection, or for a free one from the pool
    connect_timeout: float = 5.0
    #: seconds any one statement may run before PostgreSQL cancels it
    statement_timeout: float = 30.0
