"""``/types`` and the limit routes against a real server on loopback, on both stores: limits
declared in the app's code and set at run time, listed with waiting and running counts; the
setting wins until deleted; a queue's limit shows in ``/queues``; every refusal says what is
wrong and changes nothing. And ``jq.limits`` from Python, and a pool in this process that keeps
to a type's limit while it runs the other types' jobs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from jobq import FakeClock, JobQueue, Limit, PoolConfig, Rate
from jobq.domain.ids import PoolId, WorkerId
from jobq.domain.limits import LimitOrigin, LimitScope
from jobq.domain.states import JobState
from jobq.store import ClaimRequest, Completion, PostgresOptions
from jobq.worker.pool import WorkerPool
from tests.helpers import wait_for
from tests.storewrap import Watched


@pytest.fixture
async def jq(store_url: str) -> AsyncIterator[JobQueue]:
    queue = JobQueue(store_url, postgres=PostgresOptions(pool_size=4))

    @queue.job("mail", concurrency=Limit(2, by="to"), rate=Rate(100, per=60))
    async def mail(payload: dict[str, Any]) -> None: ...

    async with queue:
        yield queue


CODE = {
    "concurrency": {"count": 2, "by": "to"},
    "rate": {"count": 100, "per": 60.0, "by": None},
}


async def test_types_show_the_code_limits_then_the_setting_wins_until_deleted(
    jq: JobQueue, api: httpx.AsyncClient
) -> None:
    await jq.limits.publish()  # as a pool does at its start
    await jq.enqueue("mail", {"to": "a"})
    await jq.enqueue("mail", {"to": "b"})
    types = {t["name"]: t for t in (await api.get("/types")).json()["types"]}
    mail = types["mail"]
    assert {k: mail[k] for k in ("name", "waiting", "running", "handled", "limit")} == {
        "name": "mail",
        "waiting": 2,
        "running": 0,
        "handled": True,
        "limit": {**CODE, "origin": "code", "code": CODE, "set": None},
    }
    assert mail["options"]["limits"] == {"concurrency": CODE["concurrency"], "rate": CODE["rate"]}
    assert types["echo"]["limit"] is None and types["echo"]["handled"] is True

    put = await api.put("/types/mail/limit", json={"concurrency": {"count": 5}})
    assert put.status_code == 200, put.text
    limit = put.json()["limit"]
    assert limit["origin"] == "set" and limit["concurrency"] == {"count": 5, "by": None}
    assert limit["rate"] is None and limit["code"] == CODE

    lifted = (await api.put("/types/mail/limit", json={})).json()["limit"]
    assert lifted["origin"] is None and lifted["concurrency"] is None and lifted["code"] == CODE

    deleted = await api.delete("/types/mail/limit")
    assert deleted.status_code == 200 and deleted.json()["cleared"] is True
    assert deleted.json()["limit"]["origin"] == "code"
    again = (await api.delete("/types/mail/limit")).json()
    assert again["cleared"] is False


async def test_a_queue_limit_shows_in_queues(api: httpx.AsyncClient) -> None:
    body = {"concurrency": {"count": 3}, "rate": {"count": 10, "per": 1, "by": "tenant"}}
    put = await api.put("/queues/slow/limit", json=body)
    assert put.status_code == 200, put.text
    assert put.json()["name"] == "slow" and put.json()["counts"]["pending"] == 0
    queues = {q["name"]: q for q in (await api.get("/queues")).json()["queues"]}
    assert queues["slow"]["limit"]["rate"] == {"count": 10, "per": 1.0, "by": "tenant"}
    assert queues["slow"]["limit"]["origin"] == "set"
    cleared = await api.delete("/queues/slow/limit")
    assert cleared.json()["cleared"] is True and cleared.json()["limit"] is None
    assert "slow" not in {q["name"] for q in (await api.get("/queues")).json()["queues"]}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/types/mail/limit", {"concurrency": {"count": 0}}, "count"),
        ("/types/mail/limit", {"concurrency": {"count": 2_000_000}}, "count"),
        ("/types/mail/limit", {"concurrency": {"count": 1, "by": "a.b"}}, "by"),
        ("/types/mail/limit", {"rate": {"count": 1, "per": 0}}, "per"),
        ("/types/mail/limit", {"rate": {"count": 1}}, "per"),
        ("/types/mail/limit", {"concurrency": 5}, "concurrency"),
        ("/types/mail/limit", {"concurency": {"count": 1}}, "concurency"),
        ("/types/no spaces/limit", {"concurrency": {"count": 1}}, "name"),
        ("/queues/a%2Fb/limit", {"concurrency": {"count": 1}}, "name"),
    ],
)
async def test_bad_limits_are_refused_and_change_nothing(
    jq: JobQueue, api: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    refused = await api.put(path, json=body)
    assert refused.status_code in (404, 422), refused.text
    if refused.status_code == 422:
        assert field in refused.text
    assert await jq.limits.list() == []


async def test_jq_limits_refuses_bad_input(jq: JobQueue) -> None:
    with pytest.raises(ValueError, match="scope"):
        await jq.limits.set("job", "mail", concurrency=1)
    with pytest.raises(ValueError, match="not allowed"):
        await jq.limits.set(LimitScope.QUEUE, "a b", concurrency=1)
    with pytest.raises(ValueError, match=r"1\.\.1,000,000"):
        await jq.limits.set(LimitScope.TYPE, "mail", concurrency=0)
    with pytest.raises(TypeError, match="Rate"):
        await jq.limits.set(LimitScope.TYPE, "mail", rate=5)  # type: ignore[arg-type]
    assert await jq.limits.list() == []


async def test_a_pool_keeps_to_a_limit_and_runs_other_types_past_it(store_url: str) -> None:
    """Three ``slow`` jobs first in claim order, limited to one at a time; ``echo`` jobs behind
    them run meanwhile; a slow job starts only after the last one ended."""
    queue = JobQueue(store_url, postgres=PostgresOptions(pool_size=4))
    running: list[int] = []
    most = 0
    release = asyncio.Event()

    @queue.job("slow", concurrency=1)
    async def slow(payload: dict[str, Any]) -> None:
        nonlocal most
        running.append(1)
        most = max(most, len(running))
        await release.wait()
        running.pop()

    async with queue:
        slow_ids = [(await queue.enqueue("slow", {}, priority=9)).id for _ in range(3)]
        echo_ids = [(await queue.enqueue("echo", {"n": n})).id for n in range(5)]
        pool = queue.worker_pool(PoolConfig(worker_count=4, poll_interval=30.0))
        await pool.start()
        try:
            for job_id in echo_ids:  # past the held-back slow jobs
                assert (await queue.wait(job_id, timeout=20, interval=0.02)).status is (
                    JobState.SUCCEEDED
                )
            assert (
                sorted([(await queue.get(i)).status for i in slow_ids]).count(JobState.RUNNING) == 1
            )
            release.set()  # each slow job ends at once now; the pool claims the next on its end
            for job_id in slow_ids:
                done = await queue.wait(job_id, timeout=20, interval=0.02)
                assert done.status is JobState.SUCCEEDED
            assert most == 1
            [held] = await queue.limits.list()
            assert held.origin is LimitOrigin.CODE  # published at the pool's start
        finally:
            await pool.stop()


async def test_until_idle_waits_for_a_limit_another_process_holds(store_url: str) -> None:
    """Held back by a limit is not idle: while another process runs the one job a limit lets
    run, a pool's ``wait_until_idle`` waits, and returns once the rest have run after it."""
    queue = JobQueue(store_url, postgres=PostgresOptions(pool_size=4))

    @queue.job("one.at.a.time", concurrency=1)
    async def one(payload: dict[str, Any]) -> None: ...

    async with queue:
        await queue.limits.publish()
        ids = [(await queue.enqueue("one.at.a.time", {"n": n})).id for n in range(3)]
        [elsewhere] = await queue.store.claims.claim(
            ClaimRequest(owner=PoolId("elsewhere"), limit=1, lease_seconds=60)
        )
        watched = Watched(queue.store, ["claim"])
        pool = WorkerPool(watched, queue.registry, PoolConfig(worker_count=4, poll_interval=0.05))
        await pool.start()
        try:
            idle = asyncio.create_task(pool.wait_until_idle())
            claims = watched.ended["claim"]
            # a claim since the pool began to watch: held back by the limit, not idle
            await wait_for(lambda: watched.ended["claim"] >= claims + 2, timeout=20, what="claims")
            assert not idle.done()
            done = Completion(elsewhere.lease, "null", WorkerId("elsewhere/w1"), datetime.now(UTC))
            assert await queue.store.outcomes.complete_many([done]) == {elsewhere.id}
            await asyncio.wait_for(idle, 30)
            assert {(await queue.get(i)).status for i in ids} == {JobState.SUCCEEDED}
        finally:
            await pool.stop()


async def test_a_pool_held_back_by_a_rate_claims_again_when_its_window_ends(
    store_url: str,
) -> None:
    """On a fake clock a second before a window's end, a pool that polls every 30 s takes the
    2 jobs a rate allows, then is held back; once the window has ended (the clock moved on) it
    claims again at once, told by the held-back claim when the window ends, not at its poll
    (nor at the wake-up of its next presence report, up to 5 s on)."""
    clock = FakeClock(datetime(2030, 1, 1, 12, 0, 59, tzinfo=UTC))
    queue = JobQueue(store_url, clock=clock, postgres=PostgresOptions(pool_size=4))

    @queue.job("paced", rate=Rate(2, per=60))
    async def paced(payload: dict[str, Any]) -> None: ...

    async with queue:
        ids = [(await queue.enqueue("paced", {"n": n})).id for n in range(4)]

        async def succeeded() -> int:
            return sum([(await queue.get(i)).status is JobState.SUCCEEDED for i in ids])

        async def succeeded_are(count: int) -> bool:
            return await succeeded() == count

        pool = queue.worker_pool(PoolConfig(worker_count=4, poll_interval=30.0))
        await pool.start()
        try:
            await wait_for(lambda: succeeded_are(2), timeout=20, what="the window's 2 jobs")
            clock.advance(1)  # the next window: the pool's timer finds room in it
            await wait_for(lambda: succeeded_are(4), timeout=3, what="the next window's 2")
        finally:
            await pool.stop()
