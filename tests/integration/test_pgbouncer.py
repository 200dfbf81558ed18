"""jobq behind a real PgBouncer in transaction pooling mode (``JOBQ_DB_POOLER=transaction``):
no server-side prepared statement outlives its transaction, no ``options`` startup parameter,
the statement timeout set per transaction; LISTEN on a direct connection (``listen_url``)."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from jobq.domain.errors import StoreUnavailable
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store import PostgresOptions, open_store
from jobq.worker import PoolConfig
from tests.jobs import statuses
from tests.pgbouncer import PgBouncer

BEHIND = PostgresOptions(pool_size=3, pooler="transaction", notify="poll", connect_timeout=2)


async def migrated(pg_url: str) -> None:
    store = await open_store(pg_url, postgres=PostgresOptions(pool_size=1))
    await store.close()


async def test_a_pool_drains_through_pgbouncer_in_transaction_mode(
    pg_url: str, pgbouncer: PgBouncer
) -> None:
    """300 jobs claimed, run and acknowledged through PgBouncer with 2 server connections: the
    same statements run hundreds of times on server connections shared by transaction, which
    breaks a driver that prepares them on the server (psycopg does from the 5th run)."""
    pgbouncer.server_connections = 2
    await pgbouncer.start()
    await migrated(pg_url)
    jq = JobQueue(pgbouncer.url, postgres=BEHIND)
    async with jq:
        await jq.enqueue_many([jq.new_job("echo", {"n": n}) for n in range(300)])
        config = PoolConfig(worker_count=4, poll_interval=0.05)
        await asyncio.wait_for(jq.run(config, until_idle=True), 60)
        assert await statuses(jq) == {JobState.SUCCEEDED: 300}

        # the server-side timeout holds per transaction, and no session setting leaks out
        async def timeout_here(conn: psycopg.AsyncConnection[object]) -> object:
            row = await (await conn.execute("SHOW statement_timeout")).fetchone()
            return None if row is None else row[0]

        store = jq.store
        assert await store.db.run(timeout_here) == "30s"  # type: ignore[attr-defined]
    assert pgbouncer.server_connections_now() <= 2


async def test_without_the_pooler_setting_pgbouncer_refuses_at_once(
    pg_url: str, pgbouncer: PgBouncer
) -> None:
    """jobq's own session options are a startup parameter PgBouncer refuses: the reason the
    setting exists (and a clear StoreUnavailable, not a hang)."""
    await pgbouncer.start()
    await migrated(pg_url)
    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="unsupported startup parameter: options"):
        await open_store(pgbouncer.url, postgres=PostgresOptions(pool_size=1, connect_timeout=2))
    assert time.monotonic() - began < 5


async def test_listen_on_a_direct_connection_wakes_a_pool_behind_pgbouncer(
    pg_url: str, pgbouncer: PgBouncer
) -> None:
    """Data through PgBouncer, LISTEN straight to the server (``listen_url``): an enqueue from
    elsewhere wakes the pool at once, though it polls only every 60 s."""
    await pgbouncer.start()
    await migrated(pg_url)
    options = PostgresOptions(pool_size=2, pooler="transaction", listen_url=pg_url)
    async with JobQueue(pgbouncer.url, postgres=options) as worker_side:
        pool = worker_side.worker_pool(PoolConfig(worker_count=2, poll_interval=60))
        await pool.start()
        try:
            listener = worker_side.store.listener
            async with JobQueue(pg_url, postgres=PostgresOptions(pool_size=1)) as elsewhere:
                for n in range(8):
                    while listener.backend_pid is None:  # type: ignore[attr-defined]
                        await asyncio.sleep(0.01)
                    made = await elsewhere.enqueue("echo", {"n": n})
                    began = time.monotonic()
                    while (await elsewhere.get(made.id)).status is not JobState.SUCCEEDED:
                        assert time.monotonic() - began < 5, "not woken by the NOTIFY"
                        await asyncio.sleep(0.02)
        finally:
            await pool.stop()
