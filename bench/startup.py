"""W9, start-up (W7 until retention took that number): what a process pays before it does any work.

- ``import_jobq``: ``python -c "import jobq"`` less ``python -c pass``, ms (what every
  producer and every worker process pays first);
- ``import_fastapi``: 1 if ``import jobq`` loads the web framework, 0 if not;
- ``worker_first_job``: from spawning ``jobq worker`` (1 worker) to the end of a job that was
  waiting for it, read from the store's attempt record, s: the cold start of a worker process.

Each is the median of ``RUNS`` tries in one round.
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

from bench import harness

RUNS = 7

FIGURES = {
    "import_jobq": harness.Figure("ms", higher_is_better=False),
    "import_fastapi": harness.Figure("loaded", higher_is_better=False, digits=0),
    "worker_first_job": harness.Figure("s", higher_is_better=False, digits=3),
}

_FASTAPI = "import sys, jobq; print(int('fastapi' in sys.modules))"


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def import_ms() -> float:
    bare = statistics.median(_seconds("pass") for _ in range(RUNS))
    loaded = statistics.median(_seconds("import jobq") for _ in range(RUNS))
    return (loaded - bare) * 1000


def loads_fastapi() -> float:
    found = subprocess.run([sys.executable, "-c", _FASTAPI], check=True, capture_output=True)
    return float(found.stdout.strip())


async def first_job(url: str) -> float:
    """Seconds from spawning a worker process to the end of the job waiting for it."""
    async with harness.queue(url) as jq:
        job = await jq.enqueue("noop", {})
        spawned = datetime.now(UTC)
        with harness.processes(harness.workers(url, 1, workers_each=1)) as running:
            deadline = time.monotonic() + 60
            while (await jq.get(job.id)).finished_at is None:
                running[0].check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError("the worker process ran no job within 60 s")
                await asyncio.sleep(0.005)
        finished = (await jq.get(job.id)).finished_at
        assert finished is not None
        return (finished - spawned).total_seconds()


async def run(store: str) -> dict[str, float]:
    tries = []
    for _ in range(RUNS):
        async with harness.database(store) as url:
            tries.append(await first_job(url))
    return {
        "import_jobq": import_ms(),
        "import_fastapi": loads_fastapi(),
        "worker_first_job": statistics.median(tries),
    }
