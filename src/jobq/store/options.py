"""Options a store takes beyond its URL. Plain data, importable without any database driver."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: how a worker pool hears of new jobs on PostgreSQL: ``listen`` (a connection of its own
#: LISTENs, and runs the pool's calls while it is free) or ``poll`` (no connection of its own;
#: the pool claims every poll interval)
Notify = Literal["listen", "poll"]
#: what sits between jobq and PostgreSQL: ``none`` (the server itself, or a pooler in session
#: mode) or ``transaction`` (a pooler in transaction mode, such as PgBouncer's
#: ``pool_mode = transaction``: no session state survives a transaction)
Pooler = Literal["none", "transaction"]

#: pooled connections a process opens at most, unless told (``jobq worker``: none, see below)
DEFAULT_POOL_SIZE = 4
#: seconds a pooled connection may stay unused before it is closed (psycopg_pool's max_idle)
POOL_MAX_IDLE = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresOptions:
    #: connections the pool opens at most (API requests, claims, acknowledgements, the reaper);
    #: opened when needed, closed after ``POOL_MAX_IDLE`` unused. A worker pool's listener
    #: (``notify="listen"``) holds one more, which also runs calls while it is free. 0: no
    #: pool; every call waits its turn for the process's one connection, which the listener
    #: LISTENs on (``jobq worker``'s default: one connection per worker process).
    pool_size: int = DEFAULT_POOL_SIZE
    #: seconds to wait for a new connection, or for a free one from the pool
    connect_timeout: float = 5.0
    #: seconds any one statement may run before PostgreSQL cancels it
    statement_timeout: float = 30.0
    notify: Notify = "listen"
    #: the URL of the listener's connection (None: the store's URL); behind a pooler in
    #: transaction mode, a direct connection to the server
    listen_url: str | None = None
    pooler: Pooler = "none"
