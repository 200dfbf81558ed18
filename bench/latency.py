"""W3, latency: how long a job waits, from just before the call that enqueues it to the moment
its handler starts, on an idle pool. Measured: p50, p99 and max in milliseconds over 200 single
``stamp`` jobs, enqueued one at a time, in four setups, each on a fresh database:

- ``python_in_process``: ``JobQueue.enqueue`` in this process, run by a worker pool in this
  process too (default ``PoolConfig``: 10 workers), which the enqueue wakes directly;
- ``python_cross_process``: ``JobQueue.enqueue`` in this process, run by one ``jobq worker``
  process of 10 workers;
- ``http_in_process``: ``POST /jobs`` to a ``jobq serve`` that runs 10 workers itself;
- ``http_cross_process``: ``POST /jobs`` to a ``jobq serve --workers 0``, run by one
  ``jobq worker`` process of 10 workers.

The ``stamp`` handler returns ``time.time()`` as it starts; the latency is that result minus
``time.time()`` read just before the enqueue call (one machine, one clock). Each job is enqueued
only once the one before it has started and ``GAP`` more has passed, so every job finds the
pool idle. Where the pool runs in another process this process polls the job through its own
``JobQueue`` (the store directly, never the API under test) every ``POLL`` seconds until its
result is in; where the pool runs here, the handler tells it (``app.on_stamp``). One untimed
job first warms up connections and code paths, so the figures show the steady state.

A worker in another process learns of a new job through the store: PostgreSQL's LISTEN/NOTIFY,
or on SQLite a thread watching for other processes' commits (``PRAGMA data_version``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx

from bench import app, harness
from jobq.domain.states import TERMINAL, JobState
from jobq.jobqueue import JobQueue

JOBS = harness.scaled(200)
GAP = 0.01  # seconds between one job's end and the next enqueue: the pool is idle again
POLL = 0.005  # seconds between reads of the job being waited for
JOB_TIMEOUT = 30.0  # seconds one job may take to run before the round fails
SETUPS = ("python_in_process", "python_cross_process", "http_in_process", "http_cross_process")
STATISTICS = ("p50", "p99", "max")

FIGURES = {
    f"{setup}_{statistic}_ms": harness.Figure("ms", higher_is_better=False, digits=2)
    for setup in SETUPS
    for statistic in STATISTICS
}

#: enqueues one ``stamp`` job and returns its id
Enqueue = Callable[[], Awaitable[str]]
#: raises if whatever runs the jobs has died
Check = Callable[[], None]


def _processes_alive(running: Sequence[harness.Process]) -> Check:
    def check() -> None:
        for process in running:
            process.check_alive()

    return check


async def _handler_start(jq: JobQueue, job_id: str, check: Check) -> float:
    """The job's result (its handler's start, epoch seconds) once it has succeeded."""
    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        job = await jq.get(job_id)
        if job.status is JobState.SUCCEEDED:
            if not isinstance(job.result, int | float):
                raise RuntimeError(f"job {job_id}: result {job.result!r} is not a time")
            return float(job.result)
        if job.status in TERMINAL:
            raise RuntimeError(f"job {job_id} ended {job.status.value}: {job.last_error}")
        check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} did not finish within {JOB_TIMEOUT} s")
        await asyncio.sleep(POLL)


#: the start time of the job with this id, once it has started
WaitStart = Callable[[str], Awaitable[float]]


def _polled(jq: JobQueue, check: Check) -> WaitStart:
    async def wait(job_id: str) -> float:
        return await _handler_start(jq, job_id, check)

    return wait


async def _latencies(enqueue: Enqueue, wait_start: WaitStart) -> list[float]:
    """Milliseconds from enqueue to handler start of ``JOBS`` jobs, one at a time, after one
    untimed job."""
    latencies: list[float] = []
    for n in range(JOBS + 1):
        sent = time.time()
        job_id = await enqueue()
        started = await wait_start(job_id)
        if n > 0:  # job 0 warms up
            latencies.append((started - sent) * 1000)
        await asyncio.sleep(GAP)
    return latencies


def _figures(setup: str, latencies: Sequence[float]) -> dict[str, float]:
    return {
        f"{setup}_p50_ms": harness.percentile(latencies, 0.5),
        f"{setup}_p99_ms": harness.percentile(latencies, 0.99),
        f"{setup}_max_ms": max(latencies),
    }


def _python_enqueue(jq: JobQueue) -> Enqueue:
    async def enqueue() -> str:
        return str((await jq.enqueue("stamp")).id)

    return enqueue


def _http_enqueue(client: httpx.AsyncClient) -> Enqueue:
    async def enqueue() -> str:
        response = await client.post("/jobs", json={"type": "stamp", "payload": {}})
        if response.status_code != 201:
            raise RuntimeError(f"POST /jobs: {response.status_code} {response.text}")
        return str(response.json()["id"])

    return enqueue


async def python_in_process(url: str) -> list[float]:
    """Enqueued and run in this process: the enqueue wakes the pool without the store. The
    handler tells this process its start directly (``app.on_stamp``): polling the store from the
    loop that runs the pool would slow the pool it measures."""
    starts: asyncio.Queue[float] = asyncio.Queue()

    async def wait_start(job_id: str) -> float:
        if pool.failed.is_set():
            raise RuntimeError(f"the worker pool failed: {pool.failure!r}")
        return await asyncio.wait_for(starts.get(), JOB_TIMEOUT)

    async with harness.queue(url) as jq:
        pool = jq.worker_pool()
        app.on_stamp = starts.put_nowait
        await pool.start()
        try:
            await harness.wait_for_pools(jq, 1, [])
            return await _latencies(_python_enqueue(jq), wait_start)
        finally:
            app.on_stamp = None
            await pool.stop()
            jq.detach(pool)


async def python_cross_process(url: str) -> list[float]:
    """Enqueued in this process, run by one ``jobq worker`` process."""
    async with harness.queue(url) as jq:
        running = harness.workers(url, 1)
        with harness.processes(running):
            await harness.wait_for_pools(jq, 1, running)
            return await _latencies(_python_enqueue(jq), _polled(jq, _processes_alive(running)))


async def http(url: str, *, in_process: bool) -> list[float]:
    """``POST /jobs`` to a ``jobq serve``, run by its own 10 workers (``in_process``) or by
    one ``jobq worker`` process beside it."""
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    async with harness.queue(url) as jq:
        if in_process:
            running = [harness.api(url, port, worker_count=10)]
        else:
            running = [harness.api(url, port), *harness.workers(url, 1)]
        with harness.processes(running):
            await harness.wait_http(base, running[0])
            await harness.wait_for_pools(jq, 1, running)
            async with httpx.AsyncClient(base_url=base, timeout=JOB_TIMEOUT) as client:
                wait_start = _polled(jq, _processes_alive(running))
                return await _latencies(_http_enqueue(client), wait_start)


async def run(store: str) -> dict[str, float]:
    """One round of W3 on ``store``: p50, p99 and max latency in milliseconds per setup."""
    setups: dict[str, Callable[[str], Awaitable[list[float]]]] = {
        "python_in_process": python_in_process,
        "python_cross_process": python_cross_process,
        "http_in_process": lambda url: http(url, in_process=True),
        "http_cross_process": lambda url: http(url, in_process=False),
    }
    figures: dict[str, float] = {}
    for setup in SETUPS:
        async with harness.database(store) as url:
            figures.update(_figures(setup, await setups[setup](url)))
    return figures
