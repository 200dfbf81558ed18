"""W0, the ceiling: what the store itself does on this machine, through the drivers jobq uses,
at the durability jobq ships with (SQLite: WAL, ``synchronous=FULL``, ``BEGIN IMMEDIATE``;
PostgreSQL: ``synchronous_commit`` as the server has it). Every jobq figure is read against it.

Workloads, on a table shaped like jobq's ``jobs`` (a partial index on waiting jobs):
- ``insert_1``: one row per transaction;
- ``insert_1000``: 1,000 rows per transaction;
- ``claim_complete_1`` / ``claim_complete_100``: claim a batch of 1 or 100 (SQLite:
  ``UPDATE ... RETURNING`` under ``BEGIN IMMEDIATE``; PostgreSQL: ``FOR UPDATE SKIP LOCKED``),
  then mark them done in a second transaction, as a worker acknowledges them.

Run by ``make bench`` (never by ``make test``). Each workload runs ``REPEATS`` times; the table
shows the median and the spread (lowest-highest) in rows or jobs per second.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench.harness import postgres_dsn

REPEATS = 3
SINGLE_ROWS = 2_000
BATCH_ROWS = 20_000
CLAIM_JOBS = 2_000

Figures = dict[str, list[float]]

SQLITE_SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, queue TEXT NOT NULL, type TEXT NOT NULL, payload TEXT NOT NULL,
    status TEXT NOT NULL, priority INTEGER NOT NULL, run_at INTEGER NOT NULL,
    worker_id TEXT, lease_expires_at INTEGER
);
CREATE INDEX jobs_waiting ON jobs (queue, priority DESC, run_at, id) WHERE status = 'pending';
"""
PAYLOAD = '{"n": 1}'


def _row() -> tuple[str, str, str, str, int]:
    return (str(uuid.uuid4()), "default", "noop", PAYLOAD, time.time_ns() // 1000)


# -- SQLite ---------------------------------------------------------------------------------


def _sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


_SQLITE_INSERT = (
    "INSERT INTO jobs (id, queue, type, payload, status, priority, run_at) "
    "VALUES (?, ?, ?, ?, 'pending', 0, ?)"
)


def sqlite_round(directory: Path, figures: Figures) -> None:
    path = directory / f"ceiling-{uuid.uuid4().hex}.db"
    conn = _sqlite(path)
    conn.executescript(SQLITE_SCHEMA)

    started = time.perf_counter()
    for _ in range(SINGLE_ROWS):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_SQLITE_INSERT, _row())
        conn.execute("COMMIT")
    figures.setdefault("insert_1", []).append(SINGLE_ROWS / (time.perf_counter() - started))

    started = time.perf_counter()
    for _ in range(BATCH_ROWS // 1000):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_SQLITE_INSERT, [_row() for _ in range(1000)])
        conn.execute("COMMIT")
    figures.setdefault("insert_1000", []).append(BATCH_ROWS / (time.perf_counter() - started))

    for batch in (1, 100):
        claimed = 0
        started = time.perf_counter()
        while claimed < CLAIM_JOBS:
            conn.execute("BEGIN IMMEDIATE")
            ids = [
                row[0]
                for row in conn.execute(
                    "UPDATE jobs SET status = 'running', worker_id = 'w', lease_expires_at = ? "
                    "WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' "
                    "AND queue = 'default' ORDER BY priority DESC, run_at, id LIMIT ?) "
                    "RETURNING id",
                    (time.time_ns() // 1000 + 30_000_000, batch),
                )
            ]
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "UPDATE jobs SET status = 'succeeded', worker_id = NULL "
                "WHERE id = ? AND worker_id = 'w' AND status = 'running'",
                [(job_id,) for job_id in ids],
            )
            conn.execute("COMMIT")
            claimed += len(ids)
        name = f"claim_complete_{batch}"
        figures.setdefault(name, []).append(claimed / (time.perf_counter() - started))
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- PostgreSQL -----------------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE jobs (
    id uuid PRIMARY KEY, queue text NOT NULL, type text NOT NULL, payload json NOT NULL,
    status text NOT NULL, priority integer NOT NULL, run_at timestamptz NOT NULL,
    worker_id text, lease_expires_at timestamptz
);
CREATE INDEX jobs_waiting ON jobs (queue, priority DESC, run_at, id) WHERE status = 'pending';
"""
_PG_INSERT = (
    "INSERT INTO jobs (id, queue, type, payload, status, priority, run_at) "
    "VALUES (%s, 'default', 'noop', %s, 'pending', 0, now())"
)
_PG_CLAIM = """
    UPDATE jobs SET status = 'running', worker_id = 'w',
                    lease_expires_at = now() + interval '30 seconds'
    FROM (SELECT id FROM jobs WHERE status = 'pending' AND queue = 'default'
          ORDER BY priority DESC, run_at, id LIMIT %s FOR UPDATE SKIP LOCKED) AS picked
    WHERE jobs.id = picked.id RETURNING jobs.id"""
_PG_COMPLETE = """
    UPDATE jobs SET status = 'succeeded', worker_id = NULL
    WHERE id = ANY(%s) AND worker_id = 'w' AND status = 'running'"""


async def postgres_round(dsn: str, figures: Figures) -> None:
    import psycopg

    schema = f"jobq_bench_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute(f"CREATE SCHEMA {schema}")
    try:
        async with await psycopg.AsyncConnection.connect(
            dsn, options=f"-c search_path={schema}"
        ) as conn:
            async with conn.transaction():
                for statement in PG_SCHEMA.split(";"):
                    if statement.strip():
                        await conn.execute(statement)
            await _pg_workloads(conn, figures)
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f"DROP SCHEMA {schema} CASCADE")


async def _pg_workloads(conn: Any, figures: Figures) -> None:
    started = time.perf_counter()
    for _ in range(SINGLE_ROWS):
        async with conn.transaction():
            await conn.execute(_PG_INSERT, (uuid.uuid4(), PAYLOAD))
    figures.setdefault("insert_1", []).append(SINGLE_ROWS / (time.perf_counter() - started))

    started = time.perf_counter()
    for _ in range(BATCH_ROWS // 1000):
        async with conn.transaction(), conn.cursor() as cursor:
            await cursor.executemany(_PG_INSERT, [(uuid.uuid4(), PAYLOAD) for _ in range(1000)])
    figures.setdefault("insert_1000", []).append(BATCH_ROWS / (time.perf_counter() - started))

    for batch in (1, 100):
        claimed = 0
        started = time.perf_counter()
        while claimed < CLAIM_JOBS:
            async with conn.transaction():
                ids = [row[0] for row in await (await conn.execute(_PG_CLAIM, (batch,))).fetchall()]
            async with conn.transaction():
                await conn.execute(_PG_COMPLETE, (ids,))
            claimed += len(ids)
        name = f"claim_complete_{batch}"
        figures.setdefault(name, []).append(claimed / (time.perf_counter() - started))


# -- the report -----------------------------------------------------------------------------


def summary(figures: Figures) -> dict[str, dict[str, float]]:
    return {
        name: {
            "median": round(statistics.median(values), 1),
            "low": round(min(values), 1),
            "high": round(max(values), 1),
        }
        for name, values in figures.items()
    }


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    lines = [f"{'W0 ceiling':<22}{'store':<12}{'median /s':>12}{'spread /s':>22}"]
    for store, rows in results.items():
        for name, row in rows.items():
            spread = f"{row['low']:,.0f}-{row['high']:,.0f}"
            lines.append(f"{name:<22}{store:<12}{row['median']:>12,.0f}{spread:>22}")
    return "\n".join(lines)


async def run_ceiling(
    repeats: int = REPEATS,
    *,
    stores: Sequence[str] = ("sqlite", "postgres"),
    progress: Callable[[str], None] = print,
) -> dict[str, dict[str, dict[str, float]]]:
    results: dict[str, dict[str, dict[str, float]]] = {}
    if "sqlite" in stores:
        with tempfile.TemporaryDirectory(prefix="jobq-bench-") as directory:
            figures: Figures = {}
            for n in range(repeats):
                progress(f"W0 sqlite, round {n + 1} of {repeats}")
                await asyncio.to_thread(sqlite_round, Path(directory), figures)
            results["sqlite"] = summary(figures)
    if "postgres" in stores:
        dsn = postgres_dsn()
        figures = {}
        for n in range(repeats):
            progress(f"W0 postgres, round {n + 1} of {repeats}")
            await _timed(postgres_round(dsn, figures))
        results["postgres"] = summary(figures)
    return results


async def _timed(work: Awaitable[None]) -> None:
    await asyncio.wait_for(work, timeout=600)  # every benchmark loop is bounded in time
