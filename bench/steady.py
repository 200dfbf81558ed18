"""W7, steady state: 1,000,000 no-op jobs enqueued and drained without a pause by 2 worker
processes (W1's) that keep a succeeded job ``RETAIN`` seconds and sweep every second: the
database holds about a retention's worth of jobs, whatever has gone through it.

A producer in this process keeps between ``LOW`` and ``HIGH`` jobs waiting (batches of 1,000,
each one durable transaction), so the workers never wait for work; the size of the database
is read every second (SQLite: the file and its WAL; PostgreSQL: ``jobs`` and ``attempts`` with
their indexes and TOAST).

- ``drain``: jobs/s from the first enqueue to the moment none is left to run;
- ``drain_w1``: W1's drain, measured in the same round on a fresh database, and ``drain_share``
  the one over the other (the issue's target: 90 % or more). W1 has the two cores to itself;
  here the same two cores also enqueue each job (this process) and delete it;
- ``drain_kept``: the same run with succeeded jobs kept forever (no pruning, a table that
  grows to the million), and ``retention_share``: ``drain`` over it, what retention costs;
- ``size_window``: the database's size once the first retention window has passed (``WINDOW``
  seconds after the first enqueue), and ``size_growth``: the largest size after it over that
  one (the target: 1.25 or less).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time

from bench import harness
from bench.throughput import drain as w1_drain
from jobq.domain.states import JobState

JOBS = harness.scaled(1_000_000)
BATCH = 1_000
LOW, HIGH = 20_000, 40_000
RETAIN = 30.0
#: the first retention window: jobs kept RETAIN seconds, swept every second, then a vacuum's turn
WINDOW = 2 * RETAIN
WORKER_PROCESSES = 2
ACTIVE = (JobState.PENDING, JobState.RUNNING, JobState.FAILED)

FIGURES = {
    "drain": harness.Figure("jobs/s"),
    "drain_kept": harness.Figure("jobs/s"),
    "drain_w1": harness.Figure("jobs/s"),
    "drain_share": harness.Figure("%", digits=0),
    "retention_share": harness.Figure("%", digits=0),
    "size_window": harness.Figure("MB", higher_is_better=False),
    "size_growth": harness.Figure("times", higher_is_better=False, digits=2),
}


async def size(url: str) -> int:
    """Bytes the jobs take: SQLite's file and WAL; PostgreSQL's two tables, indexes, TOAST."""
    if url.startswith("sqlite"):
        return await asyncio.to_thread(_file_size, url.removeprefix("sqlite:///"))
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pg_total_relation_size('jobs') + pg_total_relation_size('attempts')"
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def _file_size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, f"{path}-wal") if os.path.exists(p))


#: deployment.md's autovacuum settings for the two tables
AUTOVACUUM = """
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 10000,
                      autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.02,
                          autovacuum_vacuum_insert_scale_factor = 0.05,
                          autovacuum_vacuum_threshold = 10000, autovacuum_vacuum_cost_delay = 0)
"""
SCALE_FACTOR, THRESHOLD = 0.02, 10_000


async def keep_vacuumed(url: str, vacuums: list[str]) -> None:
    """PostgreSQL: give the tables deployment.md's autovacuum settings; where the server has
    autovacuum off (this machine's stock test server), do what autovacuum would do with them:
    VACUUM a table once its dead rows pass 2 % of its rows and 10,000. Until cancelled."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(AUTOVACUUM.encode())
        row = await (await conn.execute("SHOW autovacuum")).fetchone()
        if row is not None and row[0] == "on":
            return
        while True:
            await asyncio.sleep(1.0)
            cursor = await conn.execute(
                "SELECT relname, n_dead_tup, n_live_tup FROM pg_stat_user_tables "
                "WHERE schemaname = current_schema() AND relname IN ('jobs', 'attempts')"
            )
            for table, dead, live in await cursor.fetchall():
                if dead > SCALE_FACTOR * live + THRESHOLD:
                    await conn.execute(f"VACUUM {table}".encode())
                    vacuums.append(table)


async def steady(url: str, retain: str = str(RETAIN)) -> dict[str, float]:
    """One steady run; ``retain``: the succeeded jobs' retention (``forever``: none pruned)."""
    env = {"JOBQ_RETAIN_SUCCEEDED": retain, "JOBQ_PRUNE_INTERVAL": "1"}
    samples: list[tuple[float, int]] = []
    vacuums: list[str] = []
    async with harness.queue(url) as jq:
        if not url.startswith("sqlite"):
            keeper = asyncio.create_task(keep_vacuumed(url, vacuums))
        running = harness.workers(url, WORKER_PROCESSES, **env)
        with harness.processes(running):
            await harness.wait_for_pools(jq, WORKER_PROCESSES, running)
            started = time.perf_counter()
            next_sample = started
            sent = 0
            while True:
                counts = await jq.counts()
                active = sum(row.count for row in counts if row.status in ACTIVE)
                now = time.perf_counter()
                if now >= next_sample:
                    samples.append((now - started, await size(url)))
                    next_sample += 1.0
                    if len(samples) % 10 == 0:
                        elapsed, took = samples[-1]
                        print(
                            f"  W7 {elapsed:4.0f} s: {sent:,} sent, {active:,} active, "
                            f"{took / 1e6:.1f} MB, {len(vacuums)} vacuums",
                            file=sys.stderr,
                            flush=True,
                        )
                if sent >= JOBS and active == 0:
                    break
                if now - started > harness.PROCESS_DEADLINE:
                    raise TimeoutError(f"W7: {active} jobs still active after the deadline")
                for process in running:
                    process.check_alive()
                if sent < JOBS and active < LOW:
                    while sent < JOBS and active < HIGH:
                        count = min(BATCH, JOBS - sent)
                        await jq.enqueue_many(harness.noop_jobs(jq, count))
                        sent += count
                        active += count
                else:
                    await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
        if not url.startswith("sqlite"):
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
    window = [s for t, s in samples if t >= WINDOW]
    if not window:
        raise RuntimeError(f"W7 ended ({seconds:.0f} s) before its first window ({WINDOW:.0f} s)")
    if retain == "forever":
        return {"drain": JOBS / seconds}
    return {
        "drain": JOBS / seconds,
        "size_window": window[0] / 1e6,
        "size_growth": max(window) / window[0],
    }


async def run(store: str) -> dict[str, float]:
    async with harness.database(store) as url:
        figures = await steady(url)
    async with harness.database(store) as url:
        figures["drain_kept"] = (await steady(url, "forever"))["drain"]
    async with harness.database(store) as url:
        figures["drain_w1"] = await w1_drain(url)
    figures["drain_share"] = 100 * figures["drain"] / figures["drain_w1"]
    figures["retention_share"] = 100 * figures["drain"] / figures["drain_kept"]
    return figures
