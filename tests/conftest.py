"""Shared fixtures. Every store test runs against a real database file; the ``store`` fixture is
parametrised by backend so one suite holds every store to the same behaviour."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

from jobq.clock import FakeClock
from jobq.jobqueue import JobQueue
from jobq.store import PostgresOptions, Store, open_store
from tests.helpers import JobqProcess, live_server

#: fixtures kept beside their helpers: the ledger fleet (producer, ledger, launch) and the
#: local PostgreSQL cluster (local_cluster)
pytest_plugins = ("tests.fleet", "tests.pgcluster", "tests.pgbouncer")

BACKENDS = ["sqlite", "postgres"]

POSTGRES_DSN_VARIABLE = "JOBQ_TEST_POSTGRES_DSN"
#: set by .ci/run: a PostgreSQL test that would skip fails instead
REQUIRE_POSTGRES_VARIABLE = "JOBQ_TEST_REQUIRE_POSTGRES"


def skip_unless_required(reason: str, *, variable: str = REQUIRE_POSTGRES_VARIABLE) -> NoReturn:
    """Skip, saying why, on a machine without what the test needs; where ``variable`` is 1
    (CI sets it), fail instead."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{reason} ({variable}=1: this test must run here)")
    pytest.skip(reason)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "jobq.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"  # an absolute path: sqlite:////tmp/.../jobq.db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def postgres_dsn() -> str:
    """The test server's URL; skips the test, saying how to enable it, when none is set."""
    dsn = os.environ.get(POSTGRES_DSN_VARIABLE)
    if not dsn:
        skip_unless_required(
            f"PostgreSQL tests need a server: set {POSTGRES_DSN_VARIABLE}="
            f"postgresql://user@127.0.0.1:5432/dbname (.ci/run sets it)"
        )
    return dsn


def with_schema(dsn: str, schema: str) -> str:
    """``dsn`` with ``schema`` as the search_path: where jobq creates and finds its tables."""
    return f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL on a schema of its own, created for this test and dropped after it."""
    import psycopg  # only where PostgreSQL is wanted

    dsn = postgres_dsn()
    schema = f"jobq_test_{secrets.token_hex(6)}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_schema(dsn, schema)
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, db_path: Path) -> str:
    """A fresh database of each backend: a SQLite file, or a PostgreSQL schema."""
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{db_path}"


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """A fresh, migrated store of each backend on a fake clock: tests move time instead of
    sleeping."""
    opened = await open_store(store_url, clock=clock, postgres=PostgresOptions(pool_size=4))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    """A JobQueue on a fresh database of each backend (a SQLite file, a PostgreSQL schema), on
    the real clock, with the built-in types."""
    queue = JobQueue(store_url, postgres=PostgresOptions(pool_size=4))
    async with queue:
        yield queue


@pytest.fixture
async def api(jq: JobQueue) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a live server on loopback on ``jq`` (no worker pool): the module's own
    ``jq`` where it has one."""
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        yield client


@pytest.fixture
async def sqlite_jq(db_url: str) -> AsyncIterator[JobQueue]:
    """``jq`` on SQLite only, for tests about SQLite itself: they read its file, or hand the
    same ``db_url`` to a CLI process."""
    queue = JobQueue(db_url)
    async with queue:
        yield queue


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[JobqProcess]]:
    """Collects the jobq subprocesses a test starts and kills, by PID, any still running."""
    started: list[JobqProcess] = []
    yield started
    for process in started:
        process.stop()
