"""Unique jobs in the store: a key held while the job is in its unique states, released when
it leaves them; the enqueue that meets a held key gets the holder back; at once, exactly one
is made; both stores alike."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from jobq.clock import FakeClock
from jobq.domain.states import JobState
from jobq.domain.unique import Unique, unique_fields
from jobq.store import JobFilter, Store, open_store
from tests.contract.support import OWNER, claim, claim_one, complete, new

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def unique_job(payload: dict[str, object], **options: object) -> object:
    key, states = unique_fields(Unique(**options), "echo", payload, NOW)  # type: ignore[arg-type]
    return new("echo", payload=payload, unique_key=key, unique_states=states)


async def test_a_held_key_returns_the_holder_until_it_finishes(store: Store) -> None:
    [first] = await store.enqueuer.enqueue([unique_job({"a": 1})])  # type: ignore[list-item]
    assert first.created and not first.unique_hit
    [again, other] = await store.enqueuer.enqueue(
        [unique_job({"a": 1}), unique_job({"a": 2})]  # type: ignore[list-item]
    )
    assert not again.created and again.unique_hit and again.job.id == first.job.id
    assert other.created
    # within one batch, the second of two alike gets the first
    [x, y] = await store.enqueuer.enqueue([unique_job({"b": 1}), unique_job({"b": 1})])  # type: ignore[list-item]
    assert x.created and y.unique_hit and y.job.id == x.job.id
    claimed = await claim_one(store)  # running still holds the key (default states)
    assert claimed.id == first.job.id
    [held] = await store.enqueuer.enqueue([unique_job({"a": 1})])  # type: ignore[list-item]
    assert held.unique_hit and held.job.id == first.job.id
    assert claimed.started_at is not None
    await complete(store, claimed.lease, None, slot=f"{OWNER}/w1", started_at=claimed.started_at)
    [after] = await store.enqueuer.enqueue([unique_job({"a": 1})])  # type: ignore[list-item]
    assert after.created and after.job.id != first.job.id  # succeeded: the key is free


async def test_only_while_pending_is_a_debounce(store: Store) -> None:
    job = unique_job({"d": 1}, states={JobState.PENDING})
    [first] = await store.enqueuer.enqueue([job])  # type: ignore[list-item]
    [hit] = await store.enqueuer.enqueue([job])  # type: ignore[list-item]
    assert hit.unique_hit
    assert (await claim_one(store)).id == first.job.id
    [second] = await store.enqueuer.enqueue([job])  # type: ignore[list-item]
    assert second.created  # running no longer holds it


async def test_fifty_submissions_at_once_make_one_job(store_url: str, clock: FakeClock) -> None:
    stores = [await open_store(store_url, clock=clock) for _ in range(5)]
    try:
        job = unique_job({"race": True})
        answers = await asyncio.gather(
            *(stores[i % 5].enqueuer.enqueue([job]) for i in range(50))  # type: ignore[list-item]
        )
        made = [a for [a] in answers if a.created]
        assert len(made) == 1
        assert {a.job.id for [a] in answers} == {made[0].job.id}
        page = await stores[0].reads.list_jobs(JobFilter(), limit=100)
        assert len(page.jobs) == 1
    finally:
        for opened in stores:
            await opened.close()


async def test_replace_gives_a_pending_holder_the_new_payload_and_run_time(
    store: Store, clock: FakeClock
) -> None:
    key, states = unique_fields(Unique(key="k", on_conflict="replace"), "echo", {}, NOW)
    first = new("echo", payload={"v": 1}, unique_key=key, unique_states=states)
    [made] = await store.enqueuer.enqueue([first])
    later = clock.now() + timedelta(seconds=30)
    second = new(
        "echo", payload={"v": 2}, run_at=later, unique_key=key, unique_states=states,
        unique_replace=True,
    )  # fmt: skip
    [met] = await store.enqueuer.enqueue([second])
    assert met.unique_hit and met.job.id == made.job.id
    assert met.job.payload == {"v": 2} and met.job.run_at == later
    stored = await store.reads.get(made.job.id)
    assert stored is not None and stored.payload == {"v": 2} and stored.run_at == later
    clock.advance(60)
    await claim_one(store)  # running: no longer replaced, but still the holder
    third = new("echo", payload={"v": 3}, unique_key=key, unique_states=states, unique_replace=True)
    [kept] = await store.enqueuer.enqueue([third])
    assert kept.unique_hit and kept.job.payload == {"v": 2}


async def test_a_debounce_raced_by_claims_never_fails_and_keeps_one_pending(
    store_url: str, clock: FakeClock
) -> None:
    """Holders leave their states (claimed) while others meet them: each enqueue still gets a
    job (inserted again when its holder went), and one job at most waits with the key."""
    stores = [await open_store(store_url, clock=clock) for _ in range(4)]
    try:
        job = unique_job({"debounce": 1}, states={JobState.PENDING})

        async def enqueue(i: int) -> object:
            [result] = await stores[i % 3].enqueuer.enqueue([job])  # type: ignore[list-item]
            return result

        async def claims() -> int:
            taken = 0
            for _ in range(30):
                taken += len(await claim(stores[3], limit=5))
                await asyncio.sleep(0)
            return taken

        answers = await asyncio.gather(*(enqueue(i) for i in range(60)), claims())
        results, taken = answers[:-1], answers[-1]
        assert all(getattr(r, "job", None) is not None for r in results)
        page = await stores[0].reads.list_jobs(JobFilter(status=JobState.PENDING), limit=100)
        assert len(page.jobs) <= 1
        made = {r.job.id for r in results if r.created}  # type: ignore[attr-defined]
        assert len(made) >= 1 and isinstance(taken, int)
    finally:
        for opened in stores:
            await opened.close()
