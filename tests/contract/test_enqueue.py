"""Store contract, ``Enqueuer``: one job or a batch, stored whole or not at all, idempotency keys
that name a job already, and what survives closing the store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import (
    IdempotencyConflict,
    InvalidJob,
    StoreUnavailable,
)
from jobq.domain.job import Backoff
from jobq.domain.states import JobState
from jobq.store import Store, open_store
from tests.contract.support import (
    add,
    new,
)


async def test_the_job_returned_is_the_job_stored(store: Store) -> None:
    """What ``enqueue`` returns is built without reading the row back: it must equal what a
    read returns, for defaults, due-now jobs and payloads JSON normalises (tuples, int keys)."""
    odd = new(payload={"t": (1, 2), "nested": {"x": [True, None, 1.5]}}, timeout=30)
    plain = new()
    batch = await add(store, odd, plain)
    for job in batch:
        assert await store.reads.get(job.id) == job
    assert batch[0].payload == {"t": [1, 2], "nested": {"x": [True, None, 1.5]}}
    assert batch[0].timeout == 30.0 and isinstance(batch[0].timeout, float)


async def test_enqueue_stores_every_field(store: Store, clock: FakeClock) -> None:
    run_at = clock.now() + timedelta(minutes=5)
    backoff = Backoff(base_seconds=1.5, max_seconds=90, jitter=False)
    [job] = await add(
        store,
        new(
            "mail.send",
            payload={"to": "a@example.com", "n": [1, 2.5, None]},
            queue="mail",
            priority=7,
            run_at=run_at,
            max_attempts=9,
            timeout=12.5,
            backoff=backoff,
            idempotency_key="k-1",
        ),
    )
    stored = await store.reads.get(job.id)
    assert stored == job
    assert (stored.type, stored.queue, stored.priority, stored.max_attempts) == (
        "mail.send",
        "mail",
        7,
        9,
    )
    assert stored.payload == {"to": "a@example.com", "n": [1, 2.5, None]}
    assert stored.status is JobState.PENDING
    assert stored.attempt == 0
    assert stored.run_at == run_at
    assert stored.timeout == 12.5
    assert stored.backoff == backoff
    assert stored.idempotency_key == "k-1"
    assert stored.created_at == clock.now()
    assert stored.worker_id is None and stored.lease_expires_at is None
    assert stored.started_at is None and stored.finished_at is None


async def test_enqueue_without_run_at_is_due_now(store: Store, clock: FakeClock) -> None:
    [job] = await add(store, new())
    assert job.run_at == clock.now()


async def test_enqueue_many_keeps_order_and_gives_sortable_ids(store: Store) -> None:
    jobs = await add(store, *(new(payload={"i": i}) for i in range(50)))
    assert [j.payload["i"] for j in jobs] == list(range(50))
    assert [j.id for j in jobs] == sorted(j.id for j in jobs)
    assert len({j.id for j in jobs}) == 50


async def test_batch_with_a_bad_job_stores_none(store: Store) -> None:
    with pytest.raises(InvalidJob, match="payload"):
        await store.enqueuer.enqueue([new(payload={"ok": 1}), new(payload={"x": float("nan")})])
    assert await store.reads.counts() == []


async def test_unserialisable_payload_is_refused(store: Store) -> None:
    with pytest.raises(InvalidJob, match="not JSON-serializable"):
        await store.enqueuer.enqueue([new(payload={"when": object()})])
    assert await store.reads.counts() == []


async def test_idempotency_key_returns_the_first_job(store: Store) -> None:
    [first] = await store.enqueuer.enqueue([new(payload={"a": 1}, idempotency_key="same")])
    [again] = await store.enqueuer.enqueue([new(payload={"a": 1}, idempotency_key="same")])
    assert first.created and not again.created
    assert again.job.id == first.job.id
    assert sum(c.count for c in await store.reads.counts()) == 1


async def test_idempotency_key_reused_for_another_job_is_a_conflict(store: Store) -> None:
    await store.enqueuer.enqueue([new(payload={"a": 1}, idempotency_key="k")])
    with pytest.raises(IdempotencyConflict, match="payload"):
        await store.enqueuer.enqueue([new(payload={"a": 2}, idempotency_key="k")])
    with pytest.raises(IdempotencyConflict, match="type"):
        await store.enqueuer.enqueue([new("sleep", payload={"a": 1}, idempotency_key="k")])


async def test_conflict_in_a_batch_rolls_back_the_batch(store: Store) -> None:
    await store.enqueuer.enqueue([new(payload={"a": 1}, idempotency_key="k")])
    with pytest.raises(IdempotencyConflict):
        await store.enqueuer.enqueue(
            [new(payload={"fresh": True}), new(payload={"a": 2}, idempotency_key="k")]
        )
    assert sum(c.count for c in await store.reads.counts()) == 1


async def test_jobs_without_keys_never_collide(store: Store) -> None:
    results = await store.enqueuer.enqueue([new(), new(), new()])
    assert all(r.created for r in results)


async def test_a_batch_may_mix_whole_and_fractional_timeouts(store: Store) -> None:
    whole, fractional, none = await add(store, new(timeout=5), new(timeout=2.5), new())
    assert (whole.timeout, fractional.timeout, none.timeout) == (5, 2.5, None)


async def test_jobs_survive_closing_and_reopening(store_url: str, clock: FakeClock) -> None:
    first = await open_store(store_url, clock=clock)
    jobs = await add(first, *(new(payload={"i": i}) for i in range(20)))
    await first.close()
    reopened = await open_store(store_url, clock=clock)
    try:
        assert [await reopened.reads.get(j.id) for j in jobs] == jobs
    finally:
        await reopened.close()


async def test_a_closed_store_says_so(store_url: str) -> None:
    store = await open_store(store_url)
    await store.close()
    await store.close()  # closing twice is harmless
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.ping()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.enqueuer.enqueue([new()])
