"""W13, workflows: what jobs that wait for other jobs cost.

- ``submit_10k_ms``: a workflow of 10,000 jobs with 10,000 edges (two first jobs; 9,998 that
  wait for the first, two of them for the second too), checked and stored in one transaction
  (``jq.workflows.submit_steps``, as ``POST /workflows`` calls it);
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
from jobq import JobState, group, step

FIGURES = {
    "submit_10k_ms": harness.Figure("ms", higher_is_better=False),
    "per_edge_us": harness.Figure("us", higher_is_better=False, digits=1),
    "fan_in_release_p50_ms": harness.Figure("ms", higher_is_better=False, digits=2),
    "fan_in_release_p95_ms": harness.Figure("ms", higher_is_better=False, digits=2),
}

EDGES = 10_000
FAN_INS = 20
PARENTS = 10


JOBS = 10_000


async def submit_10k(url: str) -> float:
    refs = [f"j{n}" for n in range(JOBS)]
    after: list[list[str]] = [[], []] + [["j0"] for _ in range(JOBS - 2)]
    after[2].append("j1")
    after[3].append("j1")
    if sum(map(len, after)) != EDGES:
        raise RuntimeError("the bench's own graph is not what it says")
    async with harness.queue(url) as jq:
        steps = [step("noop", {"n": n}, ref=ref) for n, ref in enumerate(refs)]
        started = time.perf_counter()
        workflow = await jq.workflows.submit_steps(steps, refs, after)
        took = time.perf_counter() - started
        if len(workflow.jobs) != JOBS:
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
