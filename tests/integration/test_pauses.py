"""``jq.pauses`` from Python: what it refuses (and then changes nothing), and a pool in this
process that passes over a paused queue and runs its jobs once it is resumed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobq import JobQueue
from jobq.domain.states import JobState
from jobq.worker.config import PoolConfig


async def test_bad_pauses_are_refused_and_change_nothing(jq: JobQueue) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        await jq.pauses.pause("no spaces")
    with pytest.raises(ValueError, match="time zone"):
        await jq.pauses.pause("q", until=datetime(2099, 1, 1))
    with pytest.raises(ValueError, match="passed already"):
        await jq.pauses.pause("q", until=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(ValueError, match="not allowed"):
        await jq.pauses.resume("a/b")
    assert await jq.pauses.list() == []


async def test_a_pool_passes_over_a_paused_queue_until_it_is_resumed(jq: JobQueue) -> None:
    await jq.pauses.pause("held")
    held = await jq.enqueue("echo", {"n": 1}, queue="held")
    free = await jq.enqueue("echo", {"n": 2})
    # a long poll: only a wake-up (the resume's) makes the pool claim again soon
    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=30.0))
    await pool.start()
    try:
        await jq.wait(free.id, timeout=20, interval=0.02)
        assert (await jq.get(held.id)).status is JobState.PENDING
        assert await jq.pauses.resume("held") is True
        done = await jq.wait(held.id, timeout=10, interval=0.02)
        assert done.status is JobState.SUCCEEDED
    finally:
        await pool.stop()
