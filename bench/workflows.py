"""W13, workflows: what jobs that wait for other jobs cost.

- ``submit_10k_ms``: ``jq.submit`` of a workflow of 10,001 jobs with 10,000 edges (one job, then
  10,000 that wait for it), checked and stored in one transaction;
- ``per_edge_us``: that time over the edges;
- ``fan_in_release_p50_ms`` / ``_p95``: how long after the last of 10 parents ended (as the store
  recorded it) their callback started, over 20 fan-ins run one after another by 2 worker
  processes of 10 workers (the release is in the parent's own transaction; what remains is the
  claim that takes the callback).
"""

from __future__ import annotations

import asyncio
import time

from bench import harness
from jobq import JobState, chain, group, step

FIGURES = {
    "submit_10k_ms": harness.Figure("ms", higher_is_better=False),
    "per_edge_us": harness.Figure("us", higher_is_better=False, digits=1),
    "fan_in_release_p50_ms": harness.Figure("ms", higher_is_better=False, digits=2),
    "fan_in_release_p95_ms": harness.Figure("ms", higher_is_better=False, digits=2),
}

EDGES = 10_000
FAN_INS = 20
PARENTS = 10


async def submit_10k(url: str) -> float:
    async with harness.queue(url) as jq:
        flow = chain(step("noop"), group([step("noop", {"n": n}) for n in range(EDGES)]))
        started = time.perf_counter()
        workflow = await jq.submit(flow)
        took = time.perf_counter() - started
        if len(workflow.jobs) != EDGES + 1:
            raise RuntimeError("the workflow was not stored whole")
        return took


async def fan_in_latencies(url: str) -> list[float]:
    """Seconds from the last parent's end to its callback's start, per fan-in."""
    found = []
    async with harness.queue(url) as jq:
        running = harness.workers(url, 2)
        with harness.processes(running):
            await harness.wait_for_pools(jq, 2, running)
            for _ in range(FAN_INS):
                parents = group([step("noop", {"n": n}) for n in range(PARENTS)])
                workflow = await jq.submit(parents.then(step("noop", ref="callback")))
                callback = workflow.jobs["callback"]
                deadline = time.monotonic() + 60
                while (job := await jq.get(callback.id)).status is not JobState.SUCCEEDED:
                    for process in running:
                        process.check_alive()
                    if time.monotonic() > deadline:
                        raise TimeoutError("a fan-in's callback did not run within 60 s")
                    await asyncio.sleep(0.02)
                view = await jq.workflows.get(workflow.id)
                ends = [j.finished_at for j in view.jobs if j.id != callback.id]
                last = max(end for end in ends if end is not None)
                if job.started_at is None:
                    raise RuntimeError("a callback that succeeded has no start")
                found.append((job.started_at - last).total_seconds())
    return found


async def run(store: str) -> dict[str, float]:
    async with harness.database(store) as url:
        seconds = await submit_10k(url)
    async with harness.database(store) as url:
        latencies = await fan_in_latencies(url)
    return {
        "submit_10k_ms": seconds * 1000,
        "per_edge_us": seconds / EDGES * 1e6,
        "fan_in_release_p50_ms": harness.percentile(latencies, 0.5) * 1000,
        "fan_in_release_p95_ms": harness.percentile(latencies, 0.95) * 1000,
    }
