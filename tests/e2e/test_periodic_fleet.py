"""Periodic jobs in a fleet of real processes: four ``jobq worker`` processes keep a schedule
that ticks every second while processes are killed (SIGKILL) and started again, on each store:
exactly one job per tick, none missed while at least one process lived."""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
from datetime import timedelta
from pathlib import Path

from jobq import JobQueue
from jobq.store import JobFilter, PostgresOptions
from tests.helpers import JobqProcess

APP = "tests.apps.periodic:jq"
FLEET = 4
#: how long the fleet runs, and how many times one of it is killed and replaced meanwhile
RUN_SECONDS = 20
KILLS = 8


def start(processes: list[JobqProcess], tmp_path: Path, url: str, name: str) -> JobqProcess:
    pool = " --db-pool-size 3" if url.startswith("postgres") else ""
    process = JobqProcess(
        [*f"worker --workers 2{pool}".split(), "--app", APP],
        env={"JOBQ_DATABASE_URL": url},
        log_path=tmp_path / f"{name}.log",
    )
    processes.append(process)
    return process


async def test_one_job_per_tick_across_kills_and_restarts(
    store_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    rng = random.Random(16)
    fleet = [start(processes, tmp_path, store_url, f"p{i}") for i in range(FLEET)]
    for process in fleet:
        await process.wait_event("pool_started")
    started = len(fleet)
    for _ in range(KILLS):
        await asyncio.sleep(RUN_SECONDS / KILLS)
        victim = fleet.pop(rng.randrange(len(fleet)))
        victim.signal(signal.SIGKILL)
        await victim.wait_exit()
        fleet.append(start(processes, tmp_path, store_url, f"p{started}"))
        started += 1
    for process in fleet:
        await process.wait_event("pool_started")
    await asyncio.sleep(1.5)  # a tick after the last start, fired by someone
    for process in fleet:
        process.signal(signal.SIGTERM)
    for process in fleet:
        assert await process.wait_exit() == 0

    queue = JobQueue(store_url, builtins=False, postgres=PostgresOptions(pool_size=2))
    async with queue:
        page = await queue.list_jobs(JobFilter(type="heartbeat.second"), limit=1000)
        [record] = (await queue.store.ticks.last()).values()
    ticks = sorted(job.run_at for job in page.jobs)
    assert len(ticks) == len(set(ticks)), "a tick made two jobs"
    gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != timedelta(seconds=1)]
    assert not gaps, f"ticks missed while processes lived: {gaps}"
    assert len(ticks) >= RUN_SECONDS, f"{len(ticks)} ticks in a {RUN_SECONDS} s run"
    keys = {job.idempotency_key for job in page.jobs}
    assert keys == {f"schedule:heartbeat.second:{t:%Y-%m-%dT%H:%M:%SZ}" for t in ticks}
    assert record.tick == ticks[-1]
    fired = sum(len(p.find("schedule_fired")) for p in processes)
    assert fired <= len(ticks)  # a tick's job is logged by the one process that made it
