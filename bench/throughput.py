"""W1, throughput: 20,000 no-op jobs enqueued through the Python API and through
``POST /jobs/batch`` (jobs/s each), then drained by 2 worker processes of 10 workers each, one
per core (jobs/s from the first attempt's start to the last one's end, as the store recorded
them), logging at WARNING, and again logging every job at INFO as JSON (``drain_logging_info``:
what the default log level costs).

Enqueue goes in batches of 1,000 (the API's largest batch); each batch is one durable
transaction, on disk before the call returns, as in production.
"""

from __future__ import annotations

import time

import httpx

from bench import harness

JOBS = harness.scaled(20_000)
BATCH = min(1_000, JOBS)
BATCHES = max(1, JOBS // BATCH)  # the enqueue figures send BATCHES * BATCH jobs
WORKER_PROCESSES = 2

FIGURES = {
    "enqueue_python": harness.Figure("jobs/s", ceiling="insert_1000"),
    "enqueue_http": harness.Figure("jobs/s", ceiling="insert_1000"),
    "drain": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "drain_logging_info": harness.Figure("jobs/s", ceiling="claim_complete_100"),
}


async def python_enqueue(url: str) -> float:
    """Jobs/s through ``JobQueue.enqueue_many``, 1,000 per call."""
    async with harness.queue(url) as jq:
        batches = [harness.noop_jobs(jq, BATCH) for _ in range(BATCHES)]
        started = time.perf_counter()
        for batch in batches:
            await jq.enqueue_many(batch)
        return BATCHES * BATCH / (time.perf_counter() - started)


async def http_enqueue(url: str) -> float:
    """Jobs/s through ``POST /jobs/batch`` on a ``jobq serve`` of its own (API only)."""
    port = harness.free_port()
    base = f"http://127.0.0.1:{port}"
    body = {"jobs": [{"type": "noop", "payload": {"n": n}} for n in range(BATCH)]}
    with harness.processes([harness.api(url, port)]) as (server,):
        await harness.wait_http(base, server)
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            started = time.perf_counter()
            for _ in range(BATCHES):
                response = await client.post("/jobs/batch", json=body)
                if response.status_code != 201:
                    raise RuntimeError(f"POST /jobs/batch: {response.status_code} {response.text}")
            return BATCHES * BATCH / (time.perf_counter() - started)


async def drain(url: str, *, log_level: str = "WARNING") -> float:
    """Jobs/s for 2 idle worker processes to run ``JOBS`` no-op jobs that fall due at once
    (enqueued in one transaction). ``log_level="INFO"``: each worker logs every job's start and
    end as JSON lines (to /dev/null), as in a default deployment."""
    seconds = await harness.drain_seconds(
        url,
        lambda jq: harness.noop_jobs(jq, JOBS),
        worker_processes=WORKER_PROCESSES,
        JOBQ_LOG_LEVEL=log_level,
    )
    return JOBS / seconds


async def run(store: str) -> dict[str, float]:
    """One round of W1 on ``store``: four figures, in jobs per second."""
    figures: dict[str, float] = {}
    async with harness.database(store) as url:
        figures["enqueue_python"] = await python_enqueue(url)
    async with harness.database(store) as url:
        figures["enqueue_http"] = await http_enqueue(url)
    async with harness.database(store) as url:
        figures["drain"] = await drain(url)
    async with harness.database(store) as url:
        figures["drain_logging_info"] = await drain(url, log_level="INFO")
    return figures
