"""A fan-in across a fleet, on both stores: 1,000 parents run by four `jobq worker` processes
(ten of them failing their first attempt, retried), then one callback. The ledger the handlers
write proves the callback ran once, and only after the last parent's last attempt ended; the
callback saw all 1,000 results. Parents that end at the same moment in different processes
release the callback exactly once (PostgreSQL: each takes the callback's row lock in turn;
SQLite: one writer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobq import Backoff, JobQueue, JobState, group, step
from tests.apps.ledger import read_ledger
from tests.fleet import Launch, broken, worker_args
from tests.helpers import JobqProcess, wait_for

PARENTS = 1_000


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_fan_in_of_a_thousand_parents_runs_its_callback_once_after_all(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
) -> None:
    quick = Backoff(base_seconds=0.05, max_seconds=0.05, jitter=False)
    parents = [
        step("ledger.parent", {"n": n, "fail_first": n % 100 == 0}, backoff=quick)
        for n in range(PARENTS)
    ]
    workflow = await producer.submit(group(parents).then(step("ledger.fan_in", ref="callback")))
    callback = workflow.jobs["callback"]
    assert callback.status is JobState.WAITING and callback.parents == PARENTS
    for name in "abcd":
        launch(name, worker_args(store_url, "--workers 8 --poll-interval 0.05"))

    async def called_back() -> bool:
        return (await producer.get(callback.id)).status in (JobState.SUCCEEDED, JobState.DEAD)

    await wait_for(called_back, timeout=150, interval=0.2, what="the callback to end")
    done = await producer.get(callback.id)
    assert done.status is JobState.SUCCEEDED, done.last_error
    assert done.result == sum(range(PARENTS))

    records = read_ledger(ledger)
    starts = [r for r in records if r["kind"] == "start" and r["job_id"] == callback.id]
    assert len(starts) == 1, starts  # released once, run once
    assert starts[0]["dependencies"] == PARENTS and starts[0]["states"] == ["succeeded"]
    parent_ids = {job.id for ref, job in workflow.jobs.items() if ref != "callback"}
    ends = [r["t"] for r in records if r["kind"] == "end" and r["job_id"] in parent_ids]
    assert len(ends) == PARENTS  # each parent succeeded once
    failed = [r for r in records if r["kind"] == "failed"]
    assert len(failed) == PARENTS // 100  # and those retried were retried once
    assert starts[0]["t"] >= max(ends)  # after the last parent's end, not before
    pids = {r["pid"] for r in records if r["kind"] == "end"}
    assert len(pids) > 1, "the parents should have run in several processes"
    assert broken(processes) == {}
