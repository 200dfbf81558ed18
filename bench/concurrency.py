"""W2, concurrency: 2,000 jobs that each sleep 10 ms, run by one ``jobq worker`` process of 10
workers. Measured: the drain time, from the first attempt's start to the last one's end as the
store recorded them, in seconds, and that time over the ideal ``jobs * 0.01 s / 10 workers``
(2.0 s at scale 1), for two kinds of handler:

- ``async``: ``async def`` handlers that ``await asyncio.sleep(0.01)`` (``sleep.async``);
- ``thread``: plain ``def`` handlers that call ``time.sleep(0.01)`` in a thread
  (``sleep.thread``).

Each kind runs on a fresh database: the worker process starts, its pool reports itself to the
store, then all the jobs are enqueued in one transaction (so they fall due at once) and the
benchmark waits for every one to end. Each job must have succeeded, attempted exactly once.
"""

from __future__ import annotations

from bench import harness

JOBS = harness.scaled(2_000)
SECONDS = 0.01  # each job's sleep
WORKERS = 10  # in the one worker process
IDEAL = JOBS * SECONDS / WORKERS  # seconds: every worker sleeping all the time, no overhead
KINDS = {"async": "sleep.async", "thread": "sleep.thread"}  # figure prefix -> job type

FIGURES = {
    "async_drain_s": harness.Figure("s", higher_is_better=False, digits=3),
    "async_over_ideal": harness.Figure("x", higher_is_better=False, digits=3),
    "thread_drain_s": harness.Figure("s", higher_is_better=False, digits=3),
    "thread_over_ideal": harness.Figure("x", higher_is_better=False, digits=3),
}


async def drain(url: str, job_type: str) -> float:
    """Seconds for one idle worker process of ``WORKERS`` workers to run ``JOBS`` jobs of
    ``job_type``, each sleeping ``SECONDS``, that fall due at once."""
    return await harness.drain_seconds(
        url,
        lambda jq: [jq.new_job(job_type, {"seconds": SECONDS}) for _ in range(JOBS)],
        worker_processes=1,
        workers_each=WORKERS,
    )


async def run(store: str) -> dict[str, float]:
    """One round of W2 on ``store``: per kind of handler, the drain time in seconds and its
    ratio to the ideal."""
    figures: dict[str, float] = {}
    for kind, job_type in KINDS.items():
        async with harness.database(store) as url:
            seconds = await drain(url, job_type)
        figures[f"{kind}_drain_s"] = seconds
        figures[f"{kind}_over_ideal"] = seconds / IDEAL
    return figures
