"""W10, a paused queue's backlog: W1's drain (20,000 no-op jobs, 2 worker processes) while
``BACKLOG`` jobs of a paused queue wait ahead of them in claim order (a higher priority, made
first). A claim must pass over them without reading them (``store/claim.py``: an arm per
(type, queue) of the queues not paused), so the drain should not slow with the backlog.

- ``drain``: W1's drain on a fresh database, this round;
- ``drain_paused``: the same with the paused backlog ahead;
- ``paused_share``: the one over the other.
"""

from __future__ import annotations

from bench import harness
from bench.throughput import JOBS, WORKER_PROCESSES
from bench.throughput import drain as w1_drain

BACKLOG = harness.scaled(100_000)
BATCH = 1_000
HELD = "held"

FIGURES = {
    "drain": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "drain_paused": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "paused_share": harness.Figure("%", digits=0),
}


async def drain_past_a_paused_backlog(url: str) -> float:
    async with harness.queue(url) as jq:
        await jq.pauses.pause(HELD)
        for start in range(0, BACKLOG, BATCH):
            count = min(BATCH, BACKLOG - start)
            await jq.enqueue_many(harness.noop_jobs(jq, count, queue=HELD, priority=1))
    seconds = await harness.drain_seconds(
        url, lambda jq: harness.noop_jobs(jq, JOBS), worker_processes=WORKER_PROCESSES
    )
    return JOBS / seconds


async def run(store: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with harness.database(store) as url:
        figures["drain"] = await w1_drain(url)
    async with harness.database(store) as url:
        figures["drain_paused"] = await drain_past_a_paused_backlog(url)
    figures["paused_share"] = 100 * figures["drain_paused"] / figures["drain"]
    return figures
