"""W4, backlog, and W5, memory: does a deep backlog slow the claim, and does a worker process
hold on to memory as it runs a million jobs?

W4. Two drains of no-op jobs by 2 worker processes of 10 workers each, one per core, each on a
fresh database:

- ``drain_10k``: 10,000 jobs, enqueued in one transaction once the workers are up; jobs/s from
  the first attempt's start to the last one's end, as the store recorded them (as W1's drain);
- ``enqueue_1m_s``, ``enqueue_1m_rate``: 1,000,000 jobs enqueued through
  ``JobQueue.enqueue_many`` in batches of 10,000 (each one durable transaction) before any worker
  runs; the time is the sum of the ``enqueue_many`` calls (building the ``NewJob`` lists, done
  just before each call, is left out, as in W1);
- ``drain_1m``: then 2 worker processes start on that million; jobs/s over its first tenth
  while at least 900,000 jobs wait: from the moment the later of the 2 processes started its
  first job (the drain of 10,000 starts with both up) to the end of the 100,000th attempt to
  finish after it, as the store's ``attempts`` table has them;
- ``drain_1m_over_10k``: ``drain_1m / drain_10k``; the target is at least 0.8 (the claim must
  not slow with depth);
- ``drain_all``: jobs/s over the whole million, first start to last end.
- ``drain_1m_mixed``: a million jobs again, on a fresh database, every other one of a type the
  worker processes have no handler for (a mixed fleet's backlog, the other service away); jobs/s
  over the first 50,000 no-op jobs the 2 processes finish, measured as ``drain_1m`` (the jobs
  they cannot run wait, untouched);
- ``mixed_over_1m``: ``drain_1m_mixed / drain_1m``; the target is at least 0.8 (a claim by type
  reads only its own types' jobs).

W5. While those 2 workers drain the million, the resident memory (``VmRSS`` in
``/proc/<pid>/status``) of each is read every 0.5 s from the moment both pools have reported
themselves to the store, and its high-water mark (``VmHWM``) just before it is stopped:

- ``rss_start_mb``: RSS once the first 10,000 jobs of the million are done (read when the
  benchmark's poll of the job counts, every second or so, first sees 10,000 finished);
- ``rss_peak_mb``: the highest RSS over the drain (the larger of the samples and ``VmHWM``);
- ``rss_growth_mb``: peak - start; the target is under 50 MB over the million.

Each memory figure is the worse of the 2 worker processes (MB = 2**20 bytes).

Every size is ``harness.scaled``: ``JOBQ_BENCH_SCALE=0.01`` drains 100 and 10,000 jobs. At
such trial scales the small drain is one or two claims (a pool claims up to 100 jobs at once)
and the head of the big one a second or less, so ``drain_10k`` and the ratio mean something
only near scale 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import harness
from jobq.domain.job import NewJob
from jobq.jobqueue import JobQueue

SMALL = harness.scaled(10_000)
BIG = harness.scaled(1_000_000)
BATCH = min(10_000, BIG)
#: the head of the big drain whose rate is ``drain_1m``: the first tenth of it
HEAD = max(1, BIG // 10)
WORKER_PROCESSES = 2
#: the job counts (a grouped COUNT over up to a million rows) are read this often, in seconds
POLL_EVERY = 1.0 if BIG >= 100_000 else 0.2
RSS_EVERY = 0.5
#: bounds on each phase, in seconds; a round is also cut at ``bench.__main__.ROUND_TIMEOUT``
SMALL_TIMEOUT = 300.0
ENQUEUE_TIMEOUT = max(120.0, 900.0 * BIG / 1_000_000)
DRAIN_TIMEOUT = max(120.0, 1800.0 * BIG / 1_000_000)

FIGURES = {
    "drain_10k": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "enqueue_1m_s": harness.Figure("s", higher_is_better=False),
    "enqueue_1m_rate": harness.Figure("jobs/s", ceiling="insert_1000"),
    "drain_1m": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "drain_1m_over_10k": harness.Figure("x", digits=3),
    "drain_all": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "drain_1m_mixed": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "mixed_over_1m": harness.Figure("x", digits=3),
    "rss_start_mb": harness.Figure("MB", higher_is_better=False),
    "rss_peak_mb": harness.Figure("MB", higher_is_better=False),
    "rss_growth_mb": harness.Figure("MB", higher_is_better=False),
}


# -- reading the store and /proc ------------------------------------------------------------


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


#: per worker process (a pool's id is its slots' ids up to the "/"): when it started its first
#: job; the latest of these starts the head, which ends at the end of the ``head``-th attempt
#: to finish after it
_HEAD = """
    WITH firsts AS (SELECT min(started_at) AS first FROM attempts GROUP BY {pool}),
         head AS (SELECT count(*) AS processes, max(first) AS start FROM firsts)
    SELECT processes, {start},
           (SELECT {finished} FROM attempts WHERE finished_at > head.start
            ORDER BY finished_at LIMIT 1 OFFSET {skip})
    FROM head"""
_SQLITE_HEAD = _HEAD.format(
    pool="substr(worker_id, 1, instr(worker_id, '/') - 1)",
    start="start / 1e6",
    finished="finished_at / 1e6",
    skip="?",
)
_POSTGRES_HEAD = _HEAD.format(
    pool="split_part(worker_id, '/', 1)",
    start="extract(epoch FROM start)",
    finished="extract(epoch FROM finished_at)",
    skip="%s",
)


async def head_window(url: str, head: int) -> tuple[float, float]:
    """(start, end) of the head of a drain, in seconds since the epoch, from the store's
    ``attempts`` table (one row per finished attempt; ``finished_at`` is indexed): it starts
    when the last of the worker processes started its first job (so a process slower to start
    does not count against the rate) and ends when the ``head``-th attempt after that ends."""
    row: tuple[Any, ...] | None
    if url.startswith("sqlite"):
        path = _sqlite_path(url)

        def read() -> tuple[Any, ...] | None:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                found: tuple[Any, ...] | None = conn.execute(_SQLITE_HEAD, (head - 1,)).fetchone()
                return found

        row = await asyncio.to_thread(read)
    else:
        import psycopg

        async with await psycopg.AsyncConnection.connect(url) as conn:
            cursor = await conn.execute(_POSTGRES_HEAD, (head - 1,))
            row = await cursor.fetchone()
    processes, start, end = row or (0, None, None)
    if processes != WORKER_PROCESSES:
        raise RuntimeError(f"attempts by {processes} worker processes, not {WORKER_PROCESSES}")
    if start is None or end is None:
        raise RuntimeError(f"fewer than {head} attempts ended after both processes started")
    return float(start), float(end)


def proc_status_kb(pid: int, key: str) -> int:
    """A ``kB`` line of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``); 0 if the process is
    gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


@dataclass
class Memory:
    """RSS of each worker process through a drain, in kB."""

    pids: list[int]
    start: dict[int, int] = field(default_factory=dict)
    peak: dict[int, int] = field(default_factory=dict)

    def sample(self) -> None:
        for pid in self.pids:
            rss = proc_status_kb(pid, "VmRSS")
            self.peak[pid] = max(self.peak.get(pid, 0), rss)

    def mark_start(self) -> None:
        """Each process's RSS now is its starting point (taken once)."""
        if not self.start:
            self.start = {pid: proc_status_kb(pid, "VmRSS") for pid in self.pids}

    def high_water(self) -> None:
        """Fold in each process's ``VmHWM``; call before the processes stop."""
        for pid in self.pids:
            self.peak[pid] = max(self.peak.get(pid, 0), proc_status_kb(pid, "VmHWM"))

    async def sample_every(self, seconds: float) -> None:
        while True:
            self.sample()
            await asyncio.sleep(seconds)

    def figures(self) -> dict[str, float]:
        """The worse of the processes, in MB."""
        if not self.start:
            raise RuntimeError("the starting RSS was never taken")
        return {
            "rss_start_mb": max(self.start.values()) / 1024,
            "rss_peak_mb": max(self.peak.values()) / 1024,
            "rss_growth_mb": max(self.peak[p] - self.start[p] for p in self.pids) / 1024,
        }


# -- the phases -----------------------------------------------------------------------------


def _batch(jq: JobQueue, first: int, count: int) -> list[NewJob]:
    return [jq.new_job("noop", {"n": n}) for n in range(first, first + count)]


async def small_drain(url: str) -> float:
    """Jobs/s for 2 idle worker processes to run ``SMALL`` no-op jobs due at once."""
    async with harness.queue(url) as jq:
        running = harness.workers(url, WORKER_PROCESSES)
        with harness.processes(running):
            await harness.wait_for_pools(jq, WORKER_PROCESSES, running)
            await jq.enqueue_many(harness.noop_jobs(jq, SMALL))
            await harness.wait_finished(jq, SMALL, running, timeout=SMALL_TIMEOUT)
    first, last, attempts = await harness.attempt_window(url)
    if attempts != SMALL:
        raise RuntimeError(f"{attempts} attempts for {SMALL} jobs: a job ran twice or not at all")
    return SMALL / (last - first)


async def enqueue_backlog(jq: JobQueue) -> float:
    """Seconds spent in ``enqueue_many`` putting ``BIG`` jobs in, ``BATCH`` per call."""
    spent = 0.0
    async with asyncio.timeout(ENQUEUE_TIMEOUT):
        for first in range(0, BIG, BATCH):
            batch = _batch(jq, first, min(BATCH, BIG - first))
            started = time.perf_counter()
            await jq.enqueue_many(batch)
            spent += time.perf_counter() - started
    return spent


async def big_drain(url: str) -> dict[str, float]:
    """Enqueue ``BIG`` jobs with no worker running, then drain them with 2 worker processes
    while reading their memory."""
    figures: dict[str, float] = {}
    async with harness.queue(url) as jq:
        seconds = await enqueue_backlog(jq)
        figures["enqueue_1m_s"] = seconds
        figures["enqueue_1m_rate"] = BIG / seconds
        if await harness.finished(jq) != 0:
            raise RuntimeError("jobs finished before any worker started")

        running = harness.workers(url, WORKER_PROCESSES)
        with harness.processes(running):
            # the pools report themselves once up: only then is a process's RSS its own
            await harness.wait_for_pools(jq, WORKER_PROCESSES, running)
            memory = Memory([process.pid for process in running])

            def on_poll(done: int) -> None:
                if done >= SMALL:
                    memory.mark_start()

            sampler = asyncio.create_task(memory.sample_every(RSS_EVERY))
            try:
                await harness.wait_finished(
                    jq, BIG, running, timeout=DRAIN_TIMEOUT, every=POLL_EVERY, on_poll=on_poll
                )
            finally:
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
            memory.mark_start()  # the drain outran every poll: the RSS at its end
            memory.sample()
            memory.high_water()
    first, last, attempts = await harness.attempt_window(url)
    if attempts != BIG:
        raise RuntimeError(f"{attempts} attempts for {BIG} jobs: a job ran twice or not at all")
    head_first, head_last = await head_window(url, HEAD)
    figures["drain_1m"] = HEAD / (head_last - head_first)
    figures["drain_all"] = BIG / (last - first)
    figures.update(memory.figures())
    return figures


#: the type of every other job of the mixed backlog: no benchmark worker has a handler for it
ELSEWHERE = "elsewhere.encode"


async def mixed_drain(url: str) -> float:
    """Enqueue ``BIG`` jobs, every other one of a type the workers cannot run, then let 2
    worker processes drain the head of the no-op half; jobs/s over it."""
    head = max(1, BIG // 2 // 10)
    async with harness.queue(url) as jq:
        jq.accept_unknown_types = True
        async with asyncio.timeout(ENQUEUE_TIMEOUT):
            for first in range(0, BIG, BATCH):
                await jq.enqueue_many(
                    [
                        jq.new_job("noop" if n % 2 else ELSEWHERE, {"n": n})
                        for n in range(first, first + min(BATCH, BIG - first))
                    ]
                )
        running = harness.workers(url, WORKER_PROCESSES)
        with harness.processes(running):
            await harness.wait_for_pools(jq, WORKER_PROCESSES, running)
            await harness.wait_finished(
                jq, head + HEAD // 10, running, timeout=DRAIN_TIMEOUT, every=POLL_EVERY
            )
    head_first, head_last = await head_window(url, head)
    return head / (head_last - head_first)


async def run(store: str) -> dict[str, float]:
    """One round of W4 and W5 on ``store``."""
    async with harness.database(store) as url:
        small = await small_drain(url)
    async with harness.database(store) as url:
        big = await big_drain(url)
    async with harness.database(store) as url:
        mixed = await mixed_drain(url)
    measured = {
        "drain_10k": small,
        **big,
        "drain_1m_over_10k": big["drain_1m"] / small,
        "drain_1m_mixed": mixed,
        "mixed_over_1m": mixed / big["drain_1m"],
    }
    return {name: measured[name] for name in FIGURES}
