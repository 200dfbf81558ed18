"""A job enqueued by one process starts in another at once, not at that worker's next poll: on
PostgreSQL through LISTEN/NOTIFY, on SQLite by the worker watching for other processes' commits
(``PRAGMA data_version``). The worker here polls only every 30 s, so only a wake-up explains a
start within a second."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.fleet import Launch
from tests.helpers import wait_for

pytestmark = pytest.mark.slow


async def test_a_job_from_another_process_starts_at_once(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    worker = launch("worker", "worker --workers 2 --poll-interval 30")
    first = await producer.enqueue("ledger.sleep", {"seconds": 0})  # the pool is up once
    await producer.wait(first.id, timeout=45)  # it ran (its first claim is at start-up)
    waits = []
    for _ in range(5):
        # Deliberately kept: a bounded pause, not an event. The worker's own last commit
        # wakes it too (on SQLite the watcher sees every other connection's commit, its own
        # process's included), and the claim that follows could take the next job without
        # any wake-up from its enqueue. Nothing outside the process says when that claim has
        # come back empty; it takes a watcher interval (5 ms) and one claim, far below this.
        await asyncio.sleep(0.2)
        began = time.monotonic()
        job = await producer.enqueue("ledger.sleep", {"seconds": 0})
        await wait_for(
            lambda job_id=job.id: any(r["job_id"] == job_id for r in read_ledger(ledger)),
            timeout=10,
            what="the job started",
        )
        waits.append(time.monotonic() - began)
        assert (await producer.wait(job.id, timeout=10)).status is JobState.SUCCEEDED
    assert max(waits) < 1.0, f"seconds from enqueue to start: {waits}"
    assert worker.proc.poll() is None
