"""Connections to PostgreSQL: a pool, one transaction per call, and errors in jobq's terms.
The store's parts share one ``Database``."""

from __future__ import annotations

import asyncio
import math
import select
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from jobq.domain.errors import StoreError, StoreFull, StoreUnavailable
from jobq.store.options import POOL_MAX_IDLE, PostgresOptions
from jobq.store.postgres.resident import Resident

T = TypeVar("T")

APPLICATION_NAME = "jobq"
LISTEN_APPLICATION_NAME = "jobq-listen"
TCP_USER_TIMEOUT_MS = 15_000
#: seconds a call may take beyond the statement and connect timeouts before it is abandoned:
#: the server answers long before unless the network is gone
DEADLINE_MARGIN = 5.0
_SERVER_GONE = (psycopg.errors.ReadOnlySqlTransaction,)


def translate(exc: Exception) -> StoreError:
    """Map a driver error to jobq's: what passes (no server, a lost connection, a restart, a
    statement timeout, a deadlock) is ``StoreUnavailable`` (a full disk: ``StoreFull``, one of
    them); anything else is a ``StoreError``."""
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return StoreUnavailable(f"PostgreSQL: no connection available: {exc}")
    if isinstance(exc, psycopg_pool.PoolClosed):
        return StoreUnavailable("the store is closed")
    if isinstance(exc, psycopg.errors.DiskFull):  # SQLSTATE 53100: a data or WAL disk is full
        return StoreFull(
            f"the PostgreSQL server's disk is full ({_first_line(exc)}): free space on it; "
            "nothing was written"
        )
    if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
        # A standby, or the old primary after a failover: another server will take writes.
        return StoreUnavailable(f"PostgreSQL is read-only here: {_first_line(exc)}")
    # OperationalError covers SQLSTATE classes 08 (connection), 40 (serialization, deadlock),
    # 53 (resources), 57 (shutdown, restart, statement timeout) and 58 (system errors).
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable(f"PostgreSQL: {_first_line(exc)}")
    return StoreError(f"PostgreSQL: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def conninfo(url: str, options: PostgresOptions, *, direct: bool = False) -> str:
    """The libpq connection string: the URL's own parameters, plus jobq's timeouts, UTC, and
    an application name. ``options=`` in the URL (a search_path, say) is kept.

    Behind a pooler in transaction mode (``options.pooler``), unless ``direct`` (a connection
    straight to the server, such as the listener's), jobq adds no ``options`` of its own: a
    pooler refuses that startup parameter, and a session setting would stay on the server
    connection for whoever gets it next. The statement timeout is then set per transaction
    (``Database.run``); times are read in UTC whatever the session's time zone (``rows.py``).
    """
    params = conninfo_to_dict(url)
    extra: dict[str, str] = {}
    if direct or options.pooler == "none":
        server_options = str(params.get("options") or "")
        statement_ms = math.ceil(options.statement_timeout * 1000)
        server_options = f"{server_options} -c statement_timeout={statement_ms} -c TimeZone=UTC"
        extra["options"] = server_options.strip()
    return make_conninfo(
        url,
        **extra,
        # libpq takes whole seconds and treats 1 as 2; the pool's own timeout is exact
        connect_timeout=str(max(2, math.ceil(options.connect_timeout))),
        application_name=str(params.get("application_name") or APPLICATION_NAME),
        # A silent network (a partition, a server that vanished without a reset) is noticed by
        # the kernel: sent data unacknowledged for this long, or an idle connection whose
        # keepalive probes go unanswered, ends the connection with an error.
        tcp_user_timeout=str(TCP_USER_TIMEOUT_MS),
        keepalives="1",
        keepalives_idle="10",
        keepalives_interval="5",
        keepalives_count="3",
    )


def prepare_threshold(options: PostgresOptions, *, direct: bool = False) -> int | None:
    """psycopg prepares a statement on the server once a connection has run it this often
    (its default, 5); behind a pooler in transaction mode the next transaction may be on
    another server connection, where that statement does not exist: never."""
    return 5 if direct or options.pooler == "none" else None


async def connect(
    url: str, options: PostgresOptions, *, direct: bool = False, **kwargs: Any
) -> psycopg.AsyncConnection[Any]:
    """One connection outside the pool (for migrations and LISTEN); ``direct``: straight to
    the server even behind a pooler (``JOBQ_LISTEN_URL``)."""
    try:
        return await psycopg.AsyncConnection.connect(
            conninfo(url, options, direct=direct),
            prepare_threshold=prepare_threshold(options, direct=direct),
            **kwargs,
        )
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise translate(exc) from exc


def resident_connector(
    url: str, options: PostgresOptions
) -> Callable[[], Awaitable[psycopg.AsyncConnection[Any]]]:
    """How the process's own connection (``resident.py``) is made: to ``JOBQ_LISTEN_URL`` when
    it LISTENs and that is set (straight to the server, past a pooler), else to the store's URL;
    named ``jobq-listen`` in pg_stat_activity when it LISTENs."""
    listens = options.notify == "listen"
    direct = listens and options.listen_url is not None
    target = options.listen_url if direct and options.listen_url else url
    name = LISTEN_APPLICATION_NAME if listens else APPLICATION_NAME

    async def make() -> psycopg.AsyncConnection[Any]:
        return await connect(target, options, direct=direct, application_name=name)

    return make


def _closed_while_idle(conn: psycopg.AsyncConnection[Any]) -> bool:
    """Whether the server has said goodbye to this idle connection, seen without a round trip.

    An idle connection has nothing to read; a server that shuts down or restarts, or that
    terminates the backend, sends its FATAL message and closes, which leaves the socket
    readable. (A round-trip check would hang on a server that went silent instead; a stray
    notice only costs a new connection.)
    """
    if conn.closed or conn.broken:
        return True
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    return bool(readable)


class Database:
    """The store's connections; ``run`` hands ``work`` one inside one transaction.

    With ``pool_size`` 0 every call waits its turn for the process's own connection
    (``resident``), which a worker pool's listener LISTENs on: the process holds one
    connection. Otherwise a pool opens connections when calls need them, up to ``pool_size``,
    and closes those unused for ``POOL_MAX_IDLE`` seconds, down to none; a worker pool's
    listener lends its own connection to calls while it only waits, so an idle worker process
    holds that one connection and no pooled one.
    """

    def __init__(
        self, url: str, options: PostgresOptions, resident: Resident | None = None
    ) -> None:
        if options.pool_size == 0 and resident is None:
            raise ValueError("pool_size 0 needs the process's own connection (a Resident)")
        self.options = options
        self.resident = resident
        self._closed = False
        # Behind a pooler in transaction mode the server-side timeout is set per transaction:
        # a session setting would outlive it on a server connection others get next.
        self._set_timeout = (
            f"SET LOCAL statement_timeout = {math.ceil(options.statement_timeout * 1000)}"
            if options.pooler == "transaction"
            else None
        )
        # ... except on a connection straight to the server (JOBQ_LISTEN_URL), which has it
        self._resident_sets_timeout = self._set_timeout is not None and not (
            options.notify == "listen" and options.listen_url is not None
        )
        self._pool: psycopg_pool.AsyncConnectionPool[psycopg.AsyncConnection[Any]] | None = None
        if options.pool_size > 0:
            self._pool = psycopg_pool.AsyncConnectionPool(
                conninfo(url, options),
                kwargs={"prepare_threshold": prepare_threshold(options)},
                min_size=0,
                max_size=options.pool_size,
                max_idle=POOL_MAX_IDLE,
                timeout=options.connect_timeout,
                # A connection that cannot be made is not retried on a backoff of the pool's
                # own (1, 2, 4, 8 s): the next call that needs one tries again. After an
                # outage the pool reconnects as soon as the server and a call are both there,
                # not up to 8 s later; while the server is down, attempts are as many as calls.
                reconnect_timeout=0.0,
                open=False,
                name="jobq",
            )

    async def open(self) -> None:
        if self._pool is None:
            return  # the process's own connection is made by the first call
        try:
            await self._pool.open(wait=True, timeout=self.options.connect_timeout)
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            await self._pool.close()
            raise StoreUnavailable(
                f"cannot connect to PostgreSQL within {self.options.connect_timeout:g} s: {exc}"
            ) from exc

    def _deadline(self) -> float:
        return self.options.statement_timeout + self.options.connect_timeout + DEADLINE_MARGIN

    async def run(self, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction: committed if it returns, rolled back if it raises.

        A call that outlives the statement timeout by the connect timeout and a margin is
        abandoned (the server would have cancelled the statement itself: the network is gone)
        and its connection closed, so the caller gets ``StoreUnavailable``, never a hang.
        """
        if self.resident is not None:
            conn = self.resident.lend() if self._pool is not None else await self._turn()
            if conn is not None:
                try:
                    return await self._on_resident(conn, work)
                finally:
                    self.resident.give_back()
        if self._pool is None:
            raise StoreUnavailable("the store is closed")
        pool = self._pool
        deadline = self._deadline()
        give_up = time.monotonic() + self.options.connect_timeout
        try:
            # A connection that died while idle (a server restart, a terminated backend) is
            # closed, so the pool replaces it, and the next one is taken at once: after a
            # restart every idle connection is dead, and the pool's own ``check`` would sleep
            # 1, 2, 4 s between them, past the connect timeout while the server is back.
            for _ in range(self.options.pool_size + 1):
                remaining = max(0.0, give_up - time.monotonic())
                async with pool.connection(timeout=remaining) as conn:
                    if _closed_while_idle(conn):
                        await conn.close()
                        continue
                    try:
                        async with asyncio.timeout(deadline):
                            if self._set_timeout is not None:
                                await conn.execute(self._set_timeout)
                            return await work(conn)
                    except TimeoutError:
                        await conn.close()  # never handed out again
                        raise StoreUnavailable(
                            f"PostgreSQL did not answer within {deadline:g} s"
                        ) from None
                    except _SERVER_GONE:
                        await conn.close()  # the pool replaces it, maybe by one to a new primary
                        raise
            raise StoreUnavailable("PostgreSQL closed every connection as soon as it was made")
        except (psycopg.Error, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            raise translate(exc) from exc

    async def _turn(self) -> psycopg.AsyncConnection[Any]:
        """The process's own connection, once the calls before this one are done with it."""
        assert self.resident is not None
        if self._closed:
            raise StoreUnavailable("the store is closed")
        waited = self._deadline()
        try:
            async with asyncio.timeout(waited):
                return await self.resident.borrow()
        except TimeoutError:
            raise StoreUnavailable(
                f"PostgreSQL: the process's connection stayed busy for {waited:g} s"
            ) from None

    async def _on_resident(
        self,
        conn: psycopg.AsyncConnection[Any],
        work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    ) -> T:
        """``work`` on the process's own connection, as ``run`` does it on a pooled one."""
        deadline = self._deadline()
        try:
            try:
                async with asyncio.timeout(deadline):
                    if self._resident_sets_timeout:
                        assert self._set_timeout is not None
                        await conn.execute(self._set_timeout)
                    result = await work(conn)
                    if conn.info.transaction_status != TransactionStatus.IDLE:
                        await conn.commit()
                    return result
            except TimeoutError:
                await conn.close()  # the next call, or the listener, connects again
                raise StoreUnavailable(f"PostgreSQL did not answer within {deadline:g} s") from None
            except BaseException:
                if not (conn.closed or conn.broken):
                    try:
                        await conn.rollback()
                    except psycopg.Error:
                        await conn.close()
                raise
        except psycopg.Error as exc:
            if isinstance(exc, _SERVER_GONE):
                await conn.close()  # made again by the next call, maybe to a new primary
            raise translate(exc) from exc

    async def fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, in a transaction of its own."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = conn.cursor(row_factory=tuple_row)
            async with conn.pipeline():  # BEGIN, the statement and COMMIT: one round trip
                await cursor.execute(sql, params)
                await conn.execute("COMMIT")
            return await cursor.fetchall()

        return await self.run(work)

    async def changed(self, sql: str, params: dict[str, Any]) -> bool:
        """Whether ``sql`` changed exactly one row."""

        async def work(conn: psycopg.AsyncConnection[Any]) -> bool:
            return (await conn.execute(sql, params)).rowcount == 1

        return await self.run(work)

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            await self._pool.close()
        if self.resident is not None:
            await self.resident.close()
