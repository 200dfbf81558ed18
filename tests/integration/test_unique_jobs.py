"""Unique jobs through the Python API on both stores: a window of time on a fake clock, a
debounce that moves a pending job, and the job's end freeing the key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from jobq import InvalidJob, JobQueue, Unique
from jobq.clock import FakeClock
from jobq.store import PostgresOptions

START = datetime(2030, 1, 1, 0, 0, 10, tzinfo=UTC)


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = JobQueue(store_url, clock=FakeClock(START), postgres=PostgresOptions(pool_size=4))
    async with queue:
        yield queue


async def test_one_job_per_window(jq: JobQueue) -> None:
    daily = Unique(key="digest-42", for_=3600)
    first = await jq.enqueue("echo", {"n": 1}, unique=daily)
    assert isinstance(jq.clock, FakeClock)
    jq.clock.advance(1800)
    same = await jq.enqueue("echo", {"n": 2}, unique=daily)
    assert same.id == first.id and same.payload == {"n": 1}
    jq.clock.advance(1800)  # 01:00:10: the next window
    nxt = await jq.enqueue("echo", {"n": 3}, unique=daily)
    assert nxt.id != first.id


async def test_a_debounce_moves_the_pending_job_and_a_finished_one_frees_the_key(
    jq: JobQueue,
) -> None:
    debounce = Unique(states={"pending"}, on_conflict="replace", key="reindex-7")
    first = await jq.enqueue("echo", {"v": 1}, delay=30, unique=debounce)
    [met] = await jq.enqueue_many([jq.new_job("echo", {"v": 2}, delay=60, unique=debounce)])
    assert met.unique_hit and met.job.id == first.id
    assert met.job.payload == {"v": 2} and met.job.run_at == START + timedelta(seconds=60)
    await jq.cancel(first.id)  # cancelled: not pending, the key is free
    again = await jq.enqueue("echo", {"v": 3}, unique=debounce)
    assert again.id != first.id


async def test_bad_unique_options_are_refused(jq: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="must include pending"):
        jq.new_job("echo", unique=Unique(states={"running"}))
    with pytest.raises(InvalidJob, match="on_conflict must be keep or replace"):
        jq.new_job("echo", unique=Unique(on_conflict="merge"))
    with pytest.raises(InvalidJob, match=r"unique\.for must be"):
        jq.new_job("echo", unique=Unique(for_=-1))


async def test_a_window_holds_after_the_job_ends_and_http_and_python_agree(
    jq: JobQueue,
) -> None:
    daily = Unique(key="d", for_=86400)
    first = await jq.enqueue("echo", {}, unique=daily)
    await jq.cancel(first.id)  # ended: still this window's job
    assert (await jq.enqueue("echo", {}, unique=daily)).id == first.id
    as_http = Unique(key="d", for_=86400.0)  # JSON numbers arrive as floats
    assert (
        jq.new_job("echo", unique=as_http).unique_key == jq.new_job("echo", unique=daily).unique_key
    )


async def test_an_idempotent_repeat_replaces_nothing(jq: JobQueue) -> None:
    debounce = Unique(key="r", states={"pending"}, on_conflict="replace")
    first = await jq.enqueue("echo", {"v": 1}, delay=30, unique=debounce, idempotency_key="i1")
    [repeat] = await jq.enqueue_many(
        [jq.new_job("echo", {"v": 1}, delay=90, unique=debounce, idempotency_key="i1")]
    )
    assert not repeat.created and not repeat.unique_hit and repeat.job.id == first.id
    assert (await jq.get(first.id)).run_at == first.run_at
