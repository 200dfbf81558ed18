"""Group commit of enqueues (``store/postgres/grouping.py``), its logic over a real store's
one-transaction write (a SQLite file here, so it runs anywhere; on PostgreSQL, where jobq uses
it, ``test_postgres.py`` checks the transactions themselves). The write is counted and, where
a test says so, held open or made to fail, the way a slow or refusing server would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import pytest

from jobq.domain.errors import IdempotencyConflict, StoreUnavailable
from jobq.domain.job import EnqueueResult, NewJob
from jobq.jobqueue import JobQueue
from jobq.store.postgres.grouping import EnqueueGroups


class Writes:
    """The store's write, counted; ``hold`` keeps each write waiting until released."""

    def __init__(self, jq: JobQueue) -> None:
        self._jq = jq
        self.sizes: list[int] = []
        self.hold = False
        self.released = asyncio.Event()
        self.started = asyncio.Event()
        self.fail_with: Exception | None = None

    async def __call__(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        self.sizes.append(len(jobs))
        self.started.set()
        if self.hold:
            await self.released.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return await self._jq.store.enqueuer.enqueue(jobs)


@pytest.fixture
async def queue(db_url: str) -> AsyncIterator[JobQueue]:
    async with JobQueue(db_url) as jq:
        yield jq


def job(jq: JobQueue, n: int, key: str | None = None) -> list[NewJob]:
    return [jq.new_job("echo", {"n": n}, idempotency_key=key)]


async def test_calls_made_during_a_write_share_the_next_one(queue: JobQueue) -> None:
    writes = Writes(queue)
    groups = EnqueueGroups(writes)
    writes.hold = True
    first = asyncio.create_task(groups.enqueue(job(queue, 0)))
    await writes.started.wait()  # the first call is being written, alone
    rest = [asyncio.create_task(groups.enqueue(job(queue, n))) for n in range(1, 31)]
    await asyncio.sleep(0)
    writes.hold = False
    writes.released.set()
    answers = await asyncio.gather(first, *rest)
    assert writes.sizes == [1, 30]
    assert [a[0].job.payload for a in answers] == [{"n": n} for n in range(31)]
    for (result,) in answers:
        assert (await queue.get(result.job.id)).payload == result.job.payload


async def test_a_lone_call_is_written_at_once_by_its_caller(queue: JobQueue) -> None:
    writes = Writes(queue)
    groups = EnqueueGroups(writes)
    for n in range(3):
        (result,) = await groups.enqueue(job(queue, n))
        assert result.created
    assert writes.sizes == [1, 1, 1]


async def test_a_group_stays_within_its_size(queue: JobQueue) -> None:
    writes = Writes(queue)
    groups = EnqueueGroups(writes, max_jobs=10)
    writes.hold = True
    first = asyncio.create_task(groups.enqueue(job(queue, 0)))
    await writes.started.wait()
    rest = [asyncio.create_task(groups.enqueue(job(queue, n))) for n in range(1, 26)]
    ten = [queue.new_job("echo", {}) for _ in range(10)]
    big = asyncio.create_task(groups.enqueue(ten))
    await asyncio.sleep(0)
    writes.hold = False
    writes.released.set()
    await asyncio.gather(first, *rest, big)
    assert sorted(writes.sizes) == sorted([1, 10, 10, 10, 5])  # the big call went alone


async def test_a_call_refused_for_its_own_reason_fails_alone(queue: JobQueue) -> None:
    await queue.enqueue("echo", {"n": -1}, idempotency_key="taken")
    writes = Writes(queue)
    groups = EnqueueGroups(writes)
    writes.hold = True
    first = asyncio.create_task(groups.enqueue(job(queue, 0)))
    await writes.started.wait()
    rest = [
        asyncio.create_task(groups.enqueue(job(queue, n, key="taken" if n == 5 else None)))
        for n in range(1, 10)
    ]
    await asyncio.sleep(0)
    writes.hold = False
    writes.released.set()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    assert isinstance(answers[5], IdempotencyConflict)
    assert all(isinstance(a, list) for n, a in enumerate(answers) if n != 5)
    assert writes.sizes == [1, 9, *[1] * 9]  # the group failed, then each call alone


async def test_a_server_that_is_gone_fails_the_group_without_retrying(queue: JobQueue) -> None:
    writes = Writes(queue)
    groups = EnqueueGroups(writes)
    writes.hold = True
    first = asyncio.create_task(groups.enqueue(job(queue, 0)))
    await writes.started.wait()
    rest = [asyncio.create_task(groups.enqueue(job(queue, n))) for n in range(1, 6)]
    await asyncio.sleep(0)
    writes.fail_with = StoreUnavailable("PostgreSQL is gone")
    writes.hold = False
    writes.released.set()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    assert all(isinstance(a, StoreUnavailable) for a in answers)
    assert writes.sizes == [1, 5]


async def test_a_caller_gone_before_its_group_is_not_written(queue: JobQueue) -> None:
    writes = Writes(queue)
    groups = EnqueueGroups(writes)
    writes.hold = True
    first = asyncio.create_task(groups.enqueue(job(queue, 0)))
    await writes.started.wait()
    kept = asyncio.create_task(groups.enqueue(job(queue, 1)))
    gone = asyncio.create_task(groups.enqueue(job(queue, 2)))
    await asyncio.sleep(0)
    gone.cancel()
    writes.hold = False
    writes.released.set()
    await asyncio.gather(first, kept)
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert writes.sizes == [1, 1]
    page = await queue.list_jobs(limit=10)
    assert sorted(j.payload["n"] for j in page.jobs) == [0, 1]
