"""W8, history: what reading the queue's state costs when 5,000,000 finished jobs are kept
(a week of 8 jobs a second, or a day of 58), with 1,000 waiting: ``GET /stats`` and the
dashboard's overview (``GET /`` as a browser asks for it, every 2 s per open page), each read
200 times one after another from a ``jobq serve`` of its own (API only), p50 and p99 in ms.

The finished jobs are written straight into the tables (one statement each for the jobs and
their attempts, their ends spread over the last 7 days), as a week of work would have left
them; the waiting ones go through ``enqueue_many``. Target: p50 at or under 50 ms on both
stores.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from datetime import UTC, datetime

import httpx

from bench import harness

FINISHED = harness.scaled(5_000_000)
WAITING = 1_000
READS = 200
SPAN = 7 * 86_400.0  # seconds over which the finished jobs ended

FIGURES = {
    "stats_p50": harness.Figure("ms", higher_is_better=False, digits=2),
    "stats_p99": harness.Figure("ms", higher_is_better=False, digits=2),
    "overview_p50": harness.Figure("ms", higher_is_better=False, digits=2),
    "overview_p99": harness.Figure("ms", higher_is_better=False, digits=2),
    "fill_s": harness.Figure("s", higher_is_better=False),
}

_SQLITE_JOBS = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO jobs (id, queue, type, payload, status, priority, run_at, attempt, max_attempts,
                  worker_id, created_at, started_at, finished_at)
SELECT printf('00000000-0000-7000-8000-%012x', i), 'default', 'noop', '{}', 'succeeded', 0,
       t, 1, 1, 'bench', t, t, t + 1000
FROM (SELECT i, :now - i * :step AS t FROM n)
"""
_SQLITE_ATTEMPTS = """
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
SELECT id, 1, 'bench', started_at, finished_at, 'succeeded' FROM jobs WHERE status = 'succeeded'
"""
_POSTGRES_JOBS = """
INSERT INTO jobs (id, queue, type, payload, status, priority, run_at, attempt, max_attempts,
                  worker_id, created_at, started_at, finished_at)
SELECT gen_random_uuid(), 'default', 'noop', '{}', 'succeeded', 0, t, 1, 1, 'bench', t, t,
       t + interval '1 millisecond'
FROM (SELECT now() - i * %(step)s * interval '1 second' AS t
      FROM generate_series(1, %(count)s) AS i) AS s
"""
_POSTGRES_ATTEMPTS = """
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome)
SELECT id, 1, 'bench', started_at, finished_at, 'succeeded' FROM jobs WHERE status = 'succeeded'
"""


async def fill(url: str) -> float:
    """Seconds to write the history (after the schema is made) and the waiting jobs."""
    async with harness.queue(url) as jq:
        started = time.perf_counter()
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            now = int(datetime.now(UTC).timestamp() * 1e6)
            params = {"count": FINISHED, "now": now, "step": int(SPAN * 1e6 / FINISHED)}
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("PRAGMA foreign_keys=ON")
                with conn:
                    conn.execute(_SQLITE_JOBS, params)
                    conn.execute(_SQLITE_ATTEMPTS)
        else:
            import psycopg

            async with await psycopg.AsyncConnection.connect(url) as conn:
                await conn.execute(_POSTGRES_JOBS, {"count": FINISHED, "step": SPAN / FINISHED})
                await conn.execute(_POSTGRES_ATTEMPTS)
                await conn.commit()
                await conn.execute("ANALYZE jobs")
                await conn.execute("ANALYZE attempts")
                await conn.commit()
        await jq.enqueue_many(harness.noop_jobs(jq, WAITING))
        seconds = time.perf_counter() - started
        kept = sum(row.count for row in await jq.counts())
    if kept != FINISHED + WAITING:
        raise RuntimeError(f"W8: {kept} jobs counted, {FINISHED + WAITING} written")
    return seconds


async def timed(client: httpx.AsyncClient, path: str, **headers: str) -> list[float]:
    times = []
    for _ in range(READS):
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:200]}")
    return times


async def run(store: str) -> dict[str, float]:
    async with harness.database(store) as url:
        figures = {"fill_s": await fill(url)}
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        with harness.processes([harness.api(url, port)]) as (server,):
            await harness.wait_http(base, server)
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                stats = await timed(client, "/stats")
                overview = await timed(client, "/", accept="text/html")
    for name, times in (("stats", stats), ("overview", overview)):
        figures[f"{name}_p50"] = harness.percentile(times, 0.5)
        figures[f"{name}_p99"] = harness.percentile(times, 0.99)
    return figures
