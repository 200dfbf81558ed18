"""Limits across a fleet, on both stores: four `jobq worker` processes of four workers each
run jobs of a type limited to 2 at once, of a type limited to one per customer, of a type
limited to 10 starts per second, and unlimited jobs beside them. The ledger the handlers write
(start and end, on the machine's monotonic clock) never shows more running than the limit,
and the store's attempts never show more starts in a window than the rate; the unlimited jobs
run many at once meanwhile."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.fleet import Launch, broken, worker_args
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses


def most_at_once(records: list[dict[str, Any]]) -> int:
    """The most jobs running at once, by their ``start`` and ``end`` records (an end before a
    start at the same instant)."""
    edges = sorted(
        (r["t"], 1 if r["kind"] == "start" else -1) for r in records if r["kind"] != "stopped"
    )
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


@pytest.mark.timeout(120)
async def test_limits_hold_across_four_worker_processes(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
) -> None:
    limited = [
        (await producer.enqueue("ledger.limited", {"seconds": 0.05}, priority=5)).id
        for _ in range(30)
    ]
    per_customer = [
        (await producer.enqueue("ledger.per_customer", {"seconds": 0.05, "customer": c})).id
        for c in "abc" * 8
    ]
    rated = [(await producer.enqueue("ledger.rated", {})).id for _ in range(30)]
    free = [(await producer.enqueue("ledger.sleep", {"seconds": 0.3})).id for _ in range(12)]
    everything = [*limited, *per_customer, *rated, *free]
    for name in "abcd":
        launch(name, worker_args(store_url, "--workers 4 --poll-interval 0.05"))

    async def all_done() -> bool:
        return await statuses(producer) == {JobState.SUCCEEDED: len(everything)}

    await wait_for(all_done, timeout=90, what="every job to succeed")
    records = read_ledger(ledger)

    def of(ids: list[str]) -> list[dict[str, Any]]:
        wanted = set(ids)
        return [r for r in records if r["job_id"] in wanted]

    # concurrency: never more than 2, and the limit was reached (it held something back)
    assert most_at_once(of(limited)) == 2
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in of(per_customer):
        by_customer[record["customer"]].append(record)
    assert {c: most_at_once(rs) for c, rs in by_customer.items()} == {"a": 1, "b": 1, "c": 1}
    # the unlimited jobs were not held to anyone's limit
    assert most_at_once(of(free)) > 2

    # rate: starts per window of 1 s, as the store stamped them at the claim (the job's
    # started_at as the claim answered it: a completion stamps it again, with the worker's
    # start, which may come a moment later, once a worker takes it from the pool's buffer)
    windows: dict[int, int] = defaultdict(int)
    for record in of(rated):
        windows[math.floor(record["claimed"])] += 1
    assert max(windows.values()) <= 10, dict(windows)
    assert len(windows) >= 3  # 30 starts at 10 a second need three windows at least

    # each job ran once
    starts = [r["job_id"] for r in records if r["kind"] == "start"]
    assert sorted(starts) == sorted(everything)
    assert broken(processes) == {}
