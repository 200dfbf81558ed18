"""A fleet shares its backlog: a process claims for its free workers (plus a prefetch that
slow jobs do not earn), so a second process gets its share of a batch instead of watching the
first one work through everything it had claimed into its buffer.

Tried as a new user would (issue 13): one worker process took all 40 jobs of a batch into its
buffer, a second ran none, and the batch took twice the time 20 workers need. Here both
processes poll only every 30 s: each claim that gives the second process its share comes from
a wake-up (NOTIFY on PostgreSQL, the commit watcher on SQLite) or from its own worker
finishing a job."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.fleet import Launch, broken, worker_args
from tests.helpers import wait_for

pytestmark = pytest.mark.slow

WORKERS = 5  # per process
JOBS = 20
SECONDS = 0.5  # each job
IDEAL = JOBS / (2 * WORKERS) * SECONDS  # 1.0 s: both processes busy throughout


async def test_two_processes_share_a_batch_of_slow_jobs(
    producer: JobQueue, launch: Launch, ledger: Path, fleet_url: str
) -> None:
    command = worker_args(fleet_url, f"--workers {WORKERS} --poll-interval 30")
    fleet = [launch("first", command), launch("second", command)]
    for process in fleet:
        await process.wait_event("listen_started", timeout=30)  # wakes up for the batch

    batch = [producer.new_job("ledger.sleep", {"seconds": SECONDS}) for _ in range(JOBS)]
    results = await producer.enqueue_many(batch)
    for result in results:
        done = await producer.wait(result.job.id, timeout=30)
        assert done.status is JobState.SUCCEEDED

    starts = [r for r in read_ledger(ledger) if r["kind"] == "start"]
    ends = [r for r in read_ledger(ledger) if r["kind"] == "end"]
    assert sorted(r["job_id"] for r in starts) == sorted(r.job.id for r in results)  # once each
    share = Counter(r["pid"] for r in starts)
    assert set(share) == {process.pid for process in fleet}, share
    assert min(share.values()) >= JOBS / 3, f"jobs run by each process: {dict(share)}"
    makespan = max(r["t"] for r in ends) - min(r["t"] for r in starts)
    # One process running the whole batch takes twice the ideal; a fair share takes the ideal,
    # plus the wake-ups and claims between rounds (milliseconds).
    assert makespan < IDEAL + SECONDS, f"the batch took {makespan:.2f} s (ideal {IDEAL} s)"
    assert broken(fleet) == {}


async def test_a_process_started_after_the_batch_still_gets_its_share(
    producer: JobQueue, launch: Launch, ledger: Path, fleet_url: str, tmp_path: Path
) -> None:
    """The issue's own story: the first process is busy with a batch of slow jobs when the
    second one starts; the second takes its share from the store instead of idling while the
    first works through a buffer full of the batch. The first round of jobs is held until the
    second process is up (``ledger.held``), so its start-up time, which a busy machine
    stretches to seconds, decides nothing; then every job takes 1 s."""
    gate = tmp_path / "open"
    command = worker_args(fleet_url, f"--workers {WORKERS} --poll-interval 30")
    first = launch("first", command)
    await first.wait_event("listen_started", timeout=30)
    batch = [
        producer.new_job("ledger.held", {"until": str(gate), "seconds": 1.0}) for _ in range(JOBS)
    ]
    results = await producer.enqueue_many(batch)
    await wait_for(
        lambda: len(read_ledger(ledger)) == WORKERS, timeout=20, what="the first round started"
    )
    second = launch("second", command)
    await second.wait_event("listen_started", timeout=30)
    # Up: it claimed for its free workers at once, from what the first one left in the store.
    await wait_for(
        lambda: len(read_ledger(ledger)) == 2 * WORKERS, timeout=20, what="the second's jobs"
    )
    gate.touch()
    for result in results:
        done = await producer.wait(result.job.id, timeout=60)
        assert done.status is JobState.SUCCEEDED

    share = Counter(r["pid"] for r in read_ledger(ledger) if r["kind"] == "start")
    assert sum(share.values()) == JOBS
    # Before: the first process ran all 20 (it had claimed them), the second none.
    assert share[second.pid] >= JOBS / 3, f"jobs run by each process: {dict(share)}"
    assert broken([first, second]) == {}
