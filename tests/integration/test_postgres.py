"""What only the PostgreSQL store does: migrations under an advisory lock, enqueue inside the
caller's transaction, LISTEN/NOTIFY wake-ups, outages (through a proxy the test cuts), the
plans of the hot statements, and its settings. The shared behaviour is in tests/contract."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
from structlog.testing import capture_logs

from jobq.domain.errors import (
    IdempotencyConflict,
    InvalidJob,
    JobNotFound,
    StoreError,
    StoreUnavailable,
)
from jobq.domain.ids import PoolId, WorkerId
from jobq.domain.job import NewJob
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store import PostgresOptions, open_store
from jobq.store.claim import ClaimShape
from jobq.store.postgres import PostgresStore
from jobq.store.postgres import migrate as migrations
from jobq.store.postgres.tables import channel_of
from jobq.worker import PoolConfig
from tests.contract.support import claim
from tests.helpers import REPO, JobqProcess, Metronome, live_server, wait_for
from tests.jobs import statuses
from tests.storewrap import Watched, meddling
from tests.tcp_proxy import TcpProxy

LATEST = len(migrations.migrations())


@pytest.fixture
async def pg_jq(pg_url: str) -> AsyncIterator[JobQueue]:
    queue = JobQueue(pg_url, postgres=PostgresOptions(pool_size=4))
    async with queue:
        yield queue


@pytest.fixture
async def proxy(pg_url: str) -> AsyncIterator[TcpProxy]:
    target = urlsplit(pg_url)
    started = TcpProxy(target.hostname or "127.0.0.1", target.port or 5432)
    await started.start()
    try:
        yield started
    finally:
        await started.close()


def through(proxy: TcpProxy, url: str) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=f"{user}127.0.0.1:{proxy.port}"))


async def sql(url: str, statement: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(statement, params or None)
        return await cursor.fetchall() if cursor.description else []


def jobq_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "jobq", *args]


# -- migrations -------------------------------------------------------------------------------


@pytest.mark.slow
async def test_ten_processes_starting_together_migrate_once(pg_url: str) -> None:
    """The test holds the migration lock while ten `jobq migrate` processes start: all ten
    must queue on it (none migrates meanwhile); released, one migrates and nine find it done."""
    env = {**os.environ, "JOBQ_DATABASE_URL": pg_url, "JOBQ_LOG_FORMAT": "json"}
    async with await psycopg.AsyncConnection.connect(pg_url) as holder:
        await holder.execute(migrations.LOCK)
        started = [
            await asyncio.create_subprocess_exec(
                *jobq_command("migrate", "--json"),
                env=env,
                cwd=REPO,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(10)
        ]
        try:
            waiting = (
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND wait_event = 'advisory' AND pid <> pg_backend_pid()"
            )
            await wait_for(
                lambda: _count_is(pg_url, waiting, 10),
                timeout=60,
                what="ten processes waiting on the migration lock",
            )
            assert await sql(pg_url, "SELECT to_regclass('jobs')") == [(None,)]
        finally:
            await holder.commit()  # releases the lock
        outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in started)), 60)
    assert [p.returncode for p in started] == [0] * 10, [err.decode() for _, err in outputs]
    rows = await sql(
        pg_url, "SELECT version, count(*) FROM jobq_migrations GROUP BY version ORDER BY version"
    )
    assert rows == [(version, 1) for version in range(1, LATEST + 1)]
    assert await sql(pg_url, "SELECT count(*) FROM jobs") == [(0,)]


async def _count_is(url: str, statement: str, expected: int) -> bool:
    return await sql(url, statement) == [(expected,)]


async def test_migrate_check_exits_1_while_the_schema_is_behind(pg_url: str) -> None:
    env = {**os.environ, "JOBQ_DATABASE_URL": pg_url}

    def jobq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            jobq_command(*args), env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )

    behind = jobq("migrate", "--check")
    assert behind.returncode == 1
    assert "behind: version 0" in behind.stdout and "jobq migrate" in behind.stdout
    assert await sql(pg_url, "SELECT to_regclass('jobs')") == [(None,)]  # --check changed nothing

    migrated = jobq("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"current: version {LATEST}" in migrated.stdout

    current = jobq("migrate", "--check")
    assert current.returncode == 0
    assert "is current" in current.stdout


def test_migrate_check_on_sqlite_reads_without_creating(tmp_path: Path) -> None:
    db = tmp_path / "jobq.db"
    env = {**os.environ, "JOBQ_DATABASE_URL": f"sqlite:///{db}"}

    def jobq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            jobq_command(*args), env=env, cwd=REPO, capture_output=True, text=True, timeout=60
        )

    assert jobq("migrate", "--check").returncode == 1
    assert not db.exists()
    assert jobq("migrate").returncode == 0
    assert jobq("migrate", "--check").returncode == 0


async def test_opening_without_migrating_refuses_an_empty_schema(pg_url: str) -> None:
    with pytest.raises(StoreError, match="holds no jobq tables: `jobq migrate`"):
        await open_store(pg_url, migrate=False)


# -- transactional enqueue --------------------------------------------------------------------


@pytest.fixture
async def app_conn(pg_url: str, pg_jq: JobQueue) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """The application's own connection, with a table of its own beside jobq's."""
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        await conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        await conn.commit()
        yield conn


async def test_a_job_enqueued_in_the_callers_transaction_appears_when_it_commits(
    pg_url: str, pg_jq: JobQueue, app_conn: psycopg.AsyncConnection[Any]
) -> None:
    async with app_conn.transaction():
        await app_conn.execute("INSERT INTO orders VALUES (1)")
        job = await pg_jq.enqueue("echo", {"order": 1}, connection=app_conn)
        assert job.status is JobState.PENDING
        with pytest.raises(JobNotFound):  # not visible to others before the commit
            await pg_jq.get(job.id)
    assert (await pg_jq.get(job.id)).payload == {"order": 1}
    assert await sql(pg_url, "SELECT id FROM orders") == [(1,)]


# -- group commit -----------------------------------------------------------------------------


async def _transactions_of(pg_url: str, job_ids: list[str]) -> int:
    """How many transactions stored these jobs: the jobs one transaction stores share its
    ``created_at`` (the time the store gives the statement)."""
    statement = "SELECT count(DISTINCT created_at) FROM jobs WHERE id = ANY(%s::uuid[])"
    rows = await sql(pg_url, statement, job_ids)
    return int(rows[0][0])


async def test_concurrent_enqueues_share_a_transaction(pg_url: str, pg_jq: JobQueue) -> None:
    """200 calls at once (as 200 API requests): the first is written at once, the rest share
    the transactions after it; each call returns its own job, stored."""
    jobs = await asyncio.gather(*(pg_jq.enqueue("echo", {"n": n}) for n in range(200)))
    assert [job.payload for job in jobs] == [{"n": n} for n in range(200)]
    assert len({job.id for job in jobs}) == 200
    for job in jobs[::20]:
        assert (await pg_jq.get(job.id)).payload == job.payload
    assert 2 <= await _transactions_of(pg_url, [job.id for job in jobs]) <= 10


async def test_a_refused_call_fails_alone_in_its_group(pg_url: str, pg_jq: JobQueue) -> None:
    first = await pg_jq.enqueue("echo", {"v": 1}, idempotency_key="k")

    async def call(n: int) -> Any:
        if n == 10:  # the same key, another payload: refused
            return await pg_jq.enqueue("echo", {"v": 2}, idempotency_key="k")
        if n == 20:  # the same key, the same payload: the first job
            return await pg_jq.enqueue("echo", {"v": 1}, idempotency_key="k")
        return await pg_jq.enqueue("echo", {"n": n})

    answers = await asyncio.gather(*(call(n) for n in range(40)), return_exceptions=True)
    assert isinstance(answers[10], IdempotencyConflict)
    assert answers[20].id == first.id
    stored = [a for n, a in enumerate(answers) if n not in (10, 20)]
    assert [job.payload for job in stored] == [{"n": n} for n in range(40) if n not in (10, 20)]
    for job in stored:
        assert (await pg_jq.get(job.id)).payload == job.payload


async def test_one_key_twice_in_one_group_is_one_job(pg_jq: JobQueue) -> None:
    async def keyed() -> list[Any]:
        return await pg_jq.enqueue_many([pg_jq.new_job("echo", {"v": 1}, idempotency_key="twice")])

    async def plain(n: int) -> list[Any]:
        return await pg_jq.enqueue_many([pg_jq.new_job("echo", {"n": n})])

    answers = await asyncio.gather(plain(0), keyed(), plain(1), keyed(), plain(2))
    (a,), (b,) = answers[1], answers[3]
    assert a.job.id == b.job.id
    assert sorted([a.created, b.created]) == [False, True]
    assert all(r.created for (r,) in (answers[0], answers[2], answers[4]))


async def test_a_rollback_leaves_no_job(
    pg_url: str, pg_jq: JobQueue, app_conn: psycopg.AsyncConnection[Any]
) -> None:
    class Abort(Exception):
        pass

    async def place_order() -> Any:
        async with app_conn.transaction():
            await app_conn.execute("INSERT INTO orders VALUES (1)")
            placed.append(await pg_jq.enqueue("echo", {"order": 1}, connection=app_conn))
            raise Abort

    placed: list[Any] = []
    with pytest.raises(Abort):
        await place_order()
    [job] = placed
    with pytest.raises(JobNotFound):
        await pg_jq.get(job.id)
    assert await pg_jq.store.reads.counts() == []
    assert await sql(pg_url, "SELECT count(*) FROM orders") == [(0,)]


async def test_a_refused_enqueue_undoes_only_itself_in_the_callers_transaction(
    pg_url: str, pg_jq: JobQueue, app_conn: psycopg.AsyncConnection[Any]
) -> None:
    async with app_conn.transaction():
        await app_conn.execute("INSERT INTO orders VALUES (1)")
        first = await pg_jq.enqueue("echo", {"n": 1}, idempotency_key="k", connection=app_conn)
        with pytest.raises(IdempotencyConflict):
            await pg_jq.enqueue("echo", {"n": 2}, idempotency_key="k", connection=app_conn)
        await app_conn.execute("INSERT INTO orders VALUES (2)")  # the transaction goes on
    assert (await pg_jq.get(first.id)).payload == {"n": 1}
    assert await sql(pg_url, "SELECT id FROM orders ORDER BY id") == [(1,), (2,)]


async def test_a_transactional_enqueue_wakes_a_pool_elsewhere_only_at_commit(
    pg_url: str, app_conn: psycopg.AsyncConnection[Any]
) -> None:
    worker_side = JobQueue(pg_url, postgres=PostgresOptions(pool_size=3))
    client_side = JobQueue(pg_url, postgres=PostgresOptions(pool_size=2))
    async with worker_side, client_side:
        store = worker_side.store
        assert isinstance(store, PostgresStore)
        with meddling(worker_side, Watched(store, ["claim"])) as watched:
            pool = worker_side.worker_pool(PoolConfig(worker_count=2, poll_interval=30))
        await pool.start()
        try:
            await wait_for(lambda: store.listener.backend_pid is not None, what="LISTEN")
            await wait_for(lambda: watched.idle("claim"), what="the first claim to return")
            claims = watched.begun["claim"]
            async with app_conn.transaction():
                job = await client_side.enqueue("echo", {"n": 1}, connection=app_conn)
                async with Metronome(worker_side, poll_interval=0.02) as metronome:
                    await metronome.wait(15)  # time for a NOTIFY sent too soon to arrive
                assert watched.begun["claim"] == claims, "woken before the commit"
            began = time.monotonic()
            done = await worker_side.wait(job.id, timeout=5, interval=0.02)
            assert done.status is JobState.SUCCEEDED
            assert time.monotonic() - began < 2  # the NOTIFY, not the 30 s poll
        finally:
            await pool.stop(grace=5)


async def test_a_connection_is_refused_on_sqlite(sqlite_jq: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="needs the PostgreSQL store"):
        await sqlite_jq.enqueue("echo", {}, connection=object())
    assert await sqlite_jq.store.reads.counts() == []


async def test_a_connection_must_be_an_async_psycopg_connection(pg_jq: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="psycopg AsyncConnection"):
        await pg_jq.enqueue("echo", {}, connection=object())
    assert await pg_jq.store.reads.counts() == []


# -- LISTEN / NOTIFY --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def listening_pool(url: str) -> AsyncIterator[tuple[JobQueue, PostgresStore]]:
    """A pool that would poll only every 30 s: only a NOTIFY makes it claim sooner."""
    queue = JobQueue(url, postgres=PostgresOptions(pool_size=3))
    async with queue:
        pool = queue.worker_pool(PoolConfig(worker_count=2, poll_interval=30))
        await pool.start()
        store = queue.store
        assert isinstance(store, PostgresStore)
        try:
            await wait_for(lambda: store.listener.backend_pid is not None, what="LISTEN")
            yield queue, store
        finally:
            await pool.stop(grace=5)


async def test_a_pool_claims_at_once_when_another_process_enqueues(pg_url: str) -> None:
    async with listening_pool(pg_url) as (worker_side, _), JobQueue(pg_url) as other:
        for n in range(3):
            began = time.monotonic()
            job = await other.enqueue("echo", {"n": n})
            done = await worker_side.wait(job.id, timeout=5, interval=0.01)
            assert done.status is JobState.SUCCEEDED
            assert time.monotonic() - began < 1


async def test_a_lost_listen_connection_is_made_again(pg_url: str) -> None:
    async with listening_pool(pg_url) as (worker_side, store), JobQueue(pg_url) as other:
        first_pid = store.listener.backend_pid
        assert await sql(pg_url, "SELECT pg_terminate_backend(%s)", first_pid) == [(True,)]
        await wait_for(
            lambda: store.listener.backend_pid not in (None, first_pid),
            timeout=10,
            what="LISTEN to be made again",
        )
        began = time.monotonic()
        job = await other.enqueue("echo", {})
        assert (await worker_side.wait(job.id, timeout=5, interval=0.01)).status is (
            JobState.SUCCEEDED
        )
        assert time.monotonic() - began < 1


async def test_a_pool_ignores_notifications_for_queues_it_does_not_work(pg_url: str) -> None:
    queue = JobQueue(pg_url)
    async with queue, JobQueue(pg_url) as other:
        pool = queue.worker_pool(PoolConfig(worker_count=1, poll_interval=30, queues=("mail",)))
        await pool.start()
        try:
            store = queue.store
            assert isinstance(store, PostgresStore)
            await wait_for(lambda: store.listener.backend_pid is not None, what="LISTEN")
            elsewhere = await other.enqueue("echo", {}, queue="reports")
            mine = await other.enqueue("echo", {}, queue="mail")
            assert (await queue.wait(mine.id, timeout=5)).status is JobState.SUCCEEDED
            assert (await queue.get(elsewhere.id)).status is JobState.PENDING
        finally:
            await pool.stop(grace=5)


# -- outages ----------------------------------------------------------------------------------


async def test_during_an_outage_the_api_answers_503_and_recovers(
    pg_url: str, proxy: TcpProxy
) -> None:
    options = PostgresOptions(pool_size=3, connect_timeout=1)
    async with (
        JobQueue(through(proxy, pg_url), postgres=options) as queue,
        live_server(queue) as base,
        httpx.AsyncClient(base_url=base, timeout=30) as http,
    ):
        assert (await http.post("/jobs", json={"type": "echo"})).status_code == 201
        await proxy.cut()
        began = time.monotonic()
        refused = await http.post("/jobs", json={"type": "echo", "payload": {"n": 2}})
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        body = refused.json()
        assert body["error"]["code"] == "store_unavailable"
        assert "PostgreSQL" in body["error"]["message"]
        assert time.monotonic() - began < 5
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert (await http.get("/jobs")).status_code == 503
        assert (await http.get("/health")).status_code == 200  # the process itself is fine

        await proxy.restore()
        await wait_for(
            lambda: _status(http, "/ready", 200), timeout=10, what="/ready after the outage"
        )
        assert (await http.post("/jobs", json={"type": "echo"})).status_code == 201
    # the refused job was never stored; the two accepted ones were
    assert sum(c.count for c in await _counts(pg_url)) == 2


async def _status(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status


async def _counts(url: str) -> list[Any]:
    async with JobQueue(url) as queue:
        return await queue.store.reads.counts()


async def test_after_a_long_outage_the_pool_reconnects_with_the_first_call(
    pg_url: str, proxy: TcpProxy
) -> None:
    """Calls keep coming through a 4 s outage. The pool does not retry on a backoff of its own
    (psycopg_pool's 1, 2, 4 s, which left an API process 4 to 11 s behind the server after a
    restart in ``test_postgres_outages``): the first call after the server is back connects."""
    options = PostgresOptions(pool_size=4, connect_timeout=0.5)
    async with JobQueue(through(proxy, pg_url), postgres=options) as queue:
        await queue.store.ping()
        await proxy.cut()
        outage_ends = time.monotonic() + 4.0
        failures = 0
        while time.monotonic() < outage_ends:
            with pytest.raises(StoreUnavailable):
                await queue.store.ping()
            failures += 1
        assert failures >= 4
        await proxy.restore()
        restored = time.monotonic()
        while True:
            try:
                await queue.store.ping()
                break
            except StoreUnavailable:
                assert time.monotonic() - restored < 10, "the pool never reconnected"
        # one call's connect timeout (0.5 s) and a margin, where the pool's backoff was 4 s
        assert time.monotonic() - restored < 1.5


@pytest.mark.slow
async def test_a_pool_rides_out_an_outage_and_loses_nothing(pg_url: str, proxy: TcpProxy) -> None:
    options = PostgresOptions(pool_size=4, connect_timeout=1)
    config = PoolConfig(worker_count=4, poll_interval=0.2, lease_seconds=3)
    async with (
        JobQueue(through(proxy, pg_url), postgres=options) as queue,
        JobQueue(pg_url) as direct,
    ):
        before = [await direct.enqueue("sleep", {"seconds": 1.0}) for _ in range(4)]
        pool = queue.worker_pool(config)
        await pool.start()
        try:
            await wait_for(
                lambda: _all_running(direct, before), timeout=10, what="the jobs to start"
            )
            with capture_logs() as logs:
                await proxy.cut()
                during = [await direct.enqueue("echo", {"n": n}) for n in range(5)]
                # the outage lasts until the handlers have ended and their acks have met it
                await wait_for(
                    lambda: pool.busy == 0 and any(e["event"] == "ack_retry" for e in logs),
                    timeout=15,
                    what="the handlers to end and an ack to fail",
                )
            assert not pool.failed.is_set()
            await proxy.restore()
            for job in before + during:
                done = await direct.wait(job.id, timeout=20, interval=0.1)
                assert done.status is JobState.SUCCEEDED, done
            assert not pool.failed.is_set()
        finally:
            await pool.stop(grace=5)
        assert await statuses(direct) == {JobState.SUCCEEDED: 9}


async def _all_running(queue: JobQueue, jobs: list[Any]) -> bool:
    states = [(await queue.get(job.id)).status for job in jobs]
    return all(state is JobState.RUNNING for state in states)


async def test_an_unreachable_server_is_a_clear_error_within_the_connect_timeout() -> None:
    closed = socket_port_nobody_listens_on()
    began = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
        await open_store(
            f"postgresql://jobq@127.0.0.1:{closed}/jobq",
            postgres=PostgresOptions(connect_timeout=1),
        )
    assert time.monotonic() - began < 10


def socket_port_nobody_listens_on() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed when the block ends: nothing listens


async def test_serve_with_an_unreachable_database_waits_for_it_without_showing_the_password(
    tmp_path: Path, processes: list[JobqProcess]
) -> None:
    """Refused connections at start-up are retried, not fatal: the process says so in its log
    (without the password) and on /ready, answers /health, and a SIGTERM meanwhile ends it
    with status 0."""
    url = f"postgresql://jobq:hunter2@127.0.0.1:{socket_port_nobody_listens_on()}/jobq"
    serve = JobqProcess(
        ["serve", "--port", "0", "--db-connect-timeout", "1"],
        env={"JOBQ_DATABASE_URL": url},
        log_path=tmp_path / "serve.log",
        cwd=tmp_path,
    )
    processes.append(serve)
    waiting = await serve.wait_event("store_waiting", timeout=30, attempt=2)
    assert "cannot connect to PostgreSQL" in waiting["error"]
    [ready_url] = waiting["ready_urls"]
    async with httpx.AsyncClient(base_url=ready_url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"] == "1"
        assert ready.json()["error"]["code"] == "not_ready"
        assert "cannot reach the store yet" in ready.json()["error"]["message"]
        listing = await http.get("/jobs")
        assert listing.status_code == 503, "nothing is served before the store is open"
        assert "hunter2" not in ready.text + listing.text
    assert serve.proc.poll() is None
    serve.signal(signal.SIGTERM)
    assert await serve.wait_exit(20) == 0
    assert not serve.find("startup_failed") and not serve.find("http_listening")
    assert "hunter2" not in serve.log_text() and "Traceback" not in serve.log_text()


# -- plans of the hot statements --------------------------------------------------------------


async def test_hot_statements_use_their_indexes_at_scale(pg_url: str, pg_jq: JobQueue) -> None:
    """200,000 finished jobs and 2,000 due ones: the claim walks the partial due index and
    stops at LIMIT; the reaper reads only running leases; listing reads newest first."""
    await sql(
        pg_url,
        """INSERT INTO jobs (id, queue, type, payload, status, priority, run_at, max_attempts,
                             created_at, worker_id, lease_expires_at)
           SELECT gen_random_uuid(), 'q' || (i % 4), 'echo', '{}',
                  CASE WHEN i % 100 = 0 THEN 'pending' WHEN i % 1000 = 1 THEN 'running'
                       ELSE 'succeeded' END,
                  0, now(), 3, now(), 'w', now() + interval '30 seconds'
           FROM generate_series(1, 200000) AS i""",
    )
    await sql(pg_url, "ANALYZE jobs")
    store = pg_jq.store
    assert isinstance(store, PostgresStore)
    params: dict[str, Any] = {
        "owner": WorkerId("w"),
        "now": None,
        "lease": 30.0,
        "limit": 10,
        "queue": "q1",
        "error": "{}",
    }

    async def plan(statement: str) -> str:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            cursor = await conn.execute(f"EXPLAIN {statement}", params)
            text = "\n".join(row[0] for row in await cursor.fetchall())
            await conn.rollback()
            return text

    # the very text the store runs
    # (the pauses, a few rows, are read whole: "Seq Scan on queue_pauses")
    claim = await plan(store.claims.claim_sql(ClaimShape(queue_count=None)))
    assert "jobs_due" in claim and "Seq Scan on jobs" not in claim, claim
    one_queue = await plan(store.claims.claim_sql(ClaimShape(queue_count=1)))
    assert "jobs_queue_due" in one_queue and "Seq Scan on jobs" not in one_queue, one_queue
    params.update(pair_types=["echo", "echo"], pair_queues=["q1", "q2"])
    pairs = await plan(store.claims.claim_sql(ClaimShape(2, 1, 2)))
    assert "jobs_type_queue_due" in pairs and "Seq Scan on jobs" not in pairs, pairs
    reaper = await plan(store.expiry.requeue_sql)
    assert "jobs_lease" in reaper and "Seq Scan" not in reaper, reaper
    listing = await plan(store.reads.list_sql(["status = 'pending'"]).replace("%(limit)s", "51"))
    assert "jobs_status_id" in listing and "Seq Scan" not in listing, listing


# -- settings ---------------------------------------------------------------------------------


async def test_settings_reach_every_connection(pg_url: str) -> None:
    store = await open_store(
        pg_url, postgres=PostgresOptions(pool_size=2, statement_timeout=0.25, connect_timeout=3)
    )
    try:
        assert isinstance(store, PostgresStore)

        async def show(conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
            cursor = await conn.execute(
                "SELECT current_setting('statement_timeout'), current_setting('TimeZone'), "
                "current_setting('application_name'), current_schema()"
            )
            row = await cursor.fetchone()
            assert row is not None
            return row

        timeout, zone, name, schema = await store.db.run(show)
        assert (timeout, zone, name) == ("250ms", "UTC", "jobq")
        assert schema == urlsplit(pg_url).query.rsplit("%3D", 1)[1]  # the URL's own options kept

        async def slow(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute("SELECT pg_sleep(2)")

        began = time.monotonic()
        with pytest.raises(StoreUnavailable, match="statement timeout"):
            await store.db.run(slow)
        assert time.monotonic() - began < 1.5
    finally:
        await store.close()


async def test_without_a_clock_the_store_keeps_the_servers_time(pg_url: str) -> None:
    async with JobQueue(pg_url) as queue:
        job = await queue.enqueue("echo", {})
        [(server_now,)] = await sql(pg_url, "SELECT now()")
        assert abs((server_now - job.created_at).total_seconds()) < 5
        assert job.run_at == job.created_at


async def test_a_newer_schema_is_left_alone_so_old_processes_keep_running(pg_url: str) -> None:
    """A rolling upgrade: the new release migrated first; processes of the old one still start
    (migrations are additive) and touch nothing."""
    first = await open_store(pg_url)
    await first.close()
    await sql(pg_url, "INSERT INTO jobq_migrations (version) VALUES (%s)", LATEST + 1)
    store = await open_store(pg_url)
    try:
        assert isinstance(store, PostgresStore)
        assert store.schema_version == LATEST + 1
        await store.enqueuer.enqueue([NewJob(type="echo")])
        assert sum(c.count for c in await store.reads.counts()) == 1
    finally:
        await store.close()
    rows = await sql(pg_url, "SELECT version FROM jobq_migrations ORDER BY version")
    assert rows == [(version,) for version in range(1, LATEST + 2)]


async def test_a_search_path_naming_no_schema_is_a_clear_error(pg_url: str) -> None:
    missing = pg_url.rsplit("%3D", 1)[0] + "%3Dno_such_schema"
    with pytest.raises(StoreError, match=r"no schema of the search_path \(no_such_schema\)"):
        await open_store(missing)


async def test_a_fresh_connection_without_autocommit_keeps_the_job_in_its_transaction(
    pg_url: str, pg_jq: JobQueue
) -> None:
    """psycopg opens a transaction with a connection's first statement: the enqueue must join
    it (not commit one of its own), so the caller's rollback removes the job."""
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        rolled_back = await pg_jq.enqueue("echo", {"n": 1}, connection=conn)
        await conn.rollback()
        committed = await pg_jq.enqueue("echo", {"n": 2}, connection=conn)
        await conn.commit()
    with pytest.raises(JobNotFound):
        await pg_jq.get(rolled_back.id)
    assert (await pg_jq.get(committed.id)).payload == {"n": 2}


async def test_an_autocommit_connection_enqueues_in_a_transaction_of_its_own(
    pg_url: str, pg_jq: JobQueue
) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        job = await pg_jq.enqueue("echo", {}, connection=conn)
    assert (await pg_jq.get(job.id)).status is JobState.PENDING


async def test_a_read_only_server_is_unavailable_not_an_error(pg_url: str) -> None:
    """A standby, or the old primary after a failover: writes answer 503, and the connection is
    replaced rather than kept."""
    await (await open_store(pg_url)).close()  # migrated while writable
    read_only = pg_url + "%20-cdefault_transaction_read_only%3Don"
    store = await open_store(read_only, migrate=False)
    try:
        await store.ping()  # reads work
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="read-only"):
                await store.enqueuer.enqueue([NewJob(type="echo")])
    finally:
        await store.close()


@pytest.mark.slow
async def test_a_silent_network_ends_in_store_unavailable_not_a_hang(
    pg_url: str, proxy: TcpProxy
) -> None:
    """The proxy stops forwarding but keeps every socket open: no reset, no answer, as in a
    partition. The call is abandoned at its deadline and its connection closed."""
    options = PostgresOptions(pool_size=2, connect_timeout=0.5, statement_timeout=0.5)
    store = await open_store(through(proxy, pg_url), postgres=options)
    try:
        await store.ping()
        proxy.freeze()
        began = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await asyncio.wait_for(store.ping(), 60)
        # deadline 0.5 + 0.5 + 5 s, then the driver's own cancel attempt (at most 10 s)
        assert time.monotonic() - began < 25
        proxy.thaw()
        await proxy.cut()
        await proxy.restore()
        await wait_for(lambda: _pings(store), timeout=20, what="the store to answer again")
    finally:
        proxy.thaw()
        await store.close()


async def _pings(store: Any) -> bool:
    try:
        await store.ping()
    except StoreUnavailable:
        return False
    return True


def test_each_schema_has_its_own_channel() -> None:
    assert channel_of("public") == "jobq:public"
    assert channel_of("tenant_a") != channel_of("tenant_b")
    long_name = "s" * 63
    assert len(channel_of(long_name).encode()) <= 63
    assert channel_of(long_name) != channel_of("s" * 62 + "t")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://jobq:hunter2@127.0.0.1:5432/jobs",
        "postgresql://127.0.0.1:5432/jobs?user=jobq&password=hunter2",
    ],
)
def test_jobq_config_never_prints_the_password(url: str, tmp_path: Path) -> None:
    shown = subprocess.run(
        jobq_command("config", "--json"),
        env={**os.environ, "JOBQ_DATABASE_URL": url},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "hunter2" not in shown.stdout + shown.stderr
    assert "***" in shown.stdout


async def test_writes_to_many_jobs_at_once_lock_in_one_order(pg_url: str) -> None:
    """Heartbeats and batched acknowledgements over the same jobs, listed in opposite orders,
    run at once. With the planner made to visit rows in the order each statement lists them
    (index lookups only), two statements locking as they go would deadlock (PostgreSQL aborts
    one after deadlock_timeout); each locks its rows in id order first, so both go through."""
    from jobq.store.records import Completion

    forced = "%20".join(
        f"-c{name}%3Doff" for name in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin")
    )
    store = await open_store(f"{pg_url}%20{forced}")
    try:
        count = 300
        await store.enqueuer.enqueue([NewJob(type="echo", payload={"n": n}) for n in range(count)])
        jobs = await claim(store, PoolId("w"), limit=count)
        leases = [job.lease for job in jobs]
        for _ in range(10):
            beats = await asyncio.gather(
                store.claims.heartbeat(leases, lease_seconds=30),
                store.claims.heartbeat(leases[::-1], lease_seconds=30),
            )
            assert [len(ids) for ids in beats] == [count, count]
        acks = [
            Completion(lease, "null", WorkerId("w/1"), job.run_at)
            for lease, job in zip(leases, jobs, strict=True)
        ]
        written, _ = await asyncio.gather(
            store.outcomes.complete_many(acks[::-1]),
            store.claims.heartbeat(leases, lease_seconds=30),
        )
        assert written == {job.id for job in jobs}
    finally:
        await store.close()
