"""Connections to PostgreSQL: a pool, one transaction per call, and errors in jobq's terms."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from jobq.domain.errors import StoreError, StoreUnavailable
from jobq.store.options import PostgresOptions

T = TypeVar("T")

APPLICATION_NAME = "jobq"


def translate(exc: Exception) -> StoreError:
    """Map a driver error to jobq's: what passes (no server, a lost connection, a restart, a
    statement timeout, a deadlock) is ``StoreUnavailable``; anything else is a ``StoreError``."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StoreUnavailable(f"PostgreSQL: no connection available: {exc}")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return StoreUnavailable("the store is closed")
    # OperationalError covers SQLSTATE classes 08 (connection), 40 (serialization, deadlock),
    # 53 (resources), 57 (shutdown, restart, statement timeout) and 58 (system errors).
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"PostgreSQL: {_first_line(exc)}")
    return StoreError(f"PostgreSQL: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def conninfo(url: str, options: PostgresOptions) -> str:
    """The libpq connection string: the URL's own parameters, plus jobq's timeouts, UTC, and
    an application name. ``options=`` in the URL (a search_path, say) is kept."""
    params = conninfo_to_dict(url)
    server_options = str(params.get("options") or "")
    statement_ms = math.ceil(options.statement_timeout * 1000)
    server_options = f"{server_options} -c statement_timeout={statement_ms} -c TimeZone=UTC"
    return make_conninfo(
        url,
        options=server_options.strip(),
        # libpq takes whole seconds and treats 1 as 2; the pool's own timeout is exact
        connect_timeout=str(max(2, math.ceil(options.connect_timeout))),
        application_name=str(params.get("application_name") or APPLICATION_NAME),
    )


async def connect(
    url: str, options: PostgresOptions, **kwargs: Any
) -> psycopg.AsyncConnection[Any]:
    """One connection outside the pool (for migrations and LISTEN)."""
    try:
        return await psycopg.AsyncConnection.connect(conninfo(url, options), **kwargs)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise translate(exc) from exc


class Database:
    """A pool of connections; ``run`` hands ``work`` a connection inside one transaction."""

    def __init__(self, url: str, options: PostgresOptions) -> None:
        self.options = options
        self._pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]] = (
            psycopg_pool.AsyncConnectionPool(
                conninfo(url, options),
                min_size=min(2, options.pool_size),
                max_size=options.pool_size,
                timeout=options.connect_timeout,
                # A connection that died while idle (a server restart) is replaced before use,
                # not handed to a caller to fail on.
                check=psycopg_pool.AsyncConnectionPool.check_connection,
                # Keep trying to refill the pool however long the server is away.
                reconnect_timeout=math.inf,
                open=False,
                name="jobq",
            )
        )

    async def open(self) -> None:
        try:
            await self._pool.open(wait=True, timeout=self.options.connect_timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            await self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL within {self.options.connect_timeout:g} s: {exc}"
            ) from exc

    async def run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction: committed if it returns, rolled back if it raises."""
        try:
            async with self._pool.connection() as conn:
                return await work(conn)
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc) from exc

    async def close(self) -> None:
        await self._pool.close()
