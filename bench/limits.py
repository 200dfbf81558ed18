"""W11, limits: what a limit costs the work it does not limit, and what a limited claim costs.

- ``drain``: W1's drain (20,000 no-op jobs, 2 worker processes of 10 workers) on a fresh
  database, this round;
- ``drain_beside_type_limits``: the same while 20 other job types have limits stored (a
  concurrency limit and a rate each), two of them types the pools run (``sleep.async``,
  ``stamp``) with no job waiting: each claim looks whether a limit applies (SQLite reads
  ``limits`` under its write lock; PostgreSQL a view of it at most a second old) and probes
  whether the limited types it runs have jobs waiting (they have none: an ordinary claim that
  leaves them out);
- ``drain_beside_queue_limit``: the same while another queue, with no job waiting, has a
  concurrency limit: the pools work every queue, so each claim looks whether that queue has
  jobs waiting (it has none: an ordinary claim that leaves it out);
- ``drain_limited``: the drain of ``noop`` limited to 10 running at once (of 20 workers),
  which also makes every claim a limited claim, in small batches;
- ``*_share``: each of these over ``drain``. Unlimited work should keep 90 % of W1 or more.
"""

from __future__ import annotations

from bench import harness
from bench.throughput import JOBS, WORKER_PROCESSES
from bench.throughput import drain as w1_drain
from jobq.domain.limits import Limit, LimitScope, Rate

OTHER_TYPES = 20

FIGURES = {
    "drain": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "drain_beside_type_limits": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "type_limits_share": harness.Figure("%", digits=0),
    "drain_beside_queue_limit": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "queue_limit_share": harness.Figure("%", digits=0),
    "drain_limited": harness.Figure("jobs/s", ceiling="claim_complete_100"),
    "limited_share": harness.Figure("%", digits=0),
}


async def drain_with(url: str, scope: LimitScope, names: list[str], **limits: object) -> float:
    async with harness.queue(url) as jq:
        for name in names:
            await jq.limits.set(scope, name, **limits)  # type: ignore[arg-type]
    seconds = await harness.drain_seconds(
        url, lambda jq: harness.noop_jobs(jq, JOBS), worker_processes=WORKER_PROCESSES
    )
    return JOBS / seconds


async def run(store: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    async with harness.database(store) as url:
        figures["drain"] = await w1_drain(url)
    others = [f"other.{n}" for n in range(OTHER_TYPES - 2)] + ["sleep.async", "stamp"]
    async with harness.database(store) as url:
        figures["drain_beside_type_limits"] = await drain_with(
            url, LimitScope.TYPE, others, concurrency=Limit(5), rate=Rate(100, per=1)
        )
    async with harness.database(store) as url:
        figures["drain_beside_queue_limit"] = await drain_with(
            url, LimitScope.QUEUE, ["other"], concurrency=Limit(5)
        )
    async with harness.database(store) as url:
        figures["drain_limited"] = await drain_with(
            url, LimitScope.TYPE, ["noop"], concurrency=Limit(10)
        )
    for figure, share in (
        ("drain_beside_type_limits", "type_limits_share"),
        ("drain_beside_queue_limit", "queue_limit_share"),
        ("drain_limited", "limited_share"),
    ):
        figures[share] = 100 * figures[figure] / figures["drain"]
    return figures
