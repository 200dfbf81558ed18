"""A run whose lease was lost is stopped, and nothing it does afterwards is written.

The theft is staged on a fake clock: pool A runs the job; its claims and heartbeats are held
back; the clock passes the lease; the test requeues the job (as any reaper would) and claims it
for another owner, the thief. Then A's held-back heartbeat goes through, is refused, and A
stops the run: an ``async def`` handler is cancelled, a ``def`` handler sees ``ctx.cancelled``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from jobq import JobContext, JobQueue, PoolConfig, WorkerPool
from jobq.clock import FakeClock
from jobq.domain.ids import PoolId, WorkerId
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.registry import Registry
from jobq.store import PostgresOptions, Store
from jobq.store.claim import ClaimRequest
from jobq.store.records import Completion
from tests.helpers import wait_for
from tests.storewrap import Around, Meddled

LEASE = 3.0  # heartbeats every second
THIEF = PoolId("elsewhere:1:thief0")
#: what pool A may write about a job after claiming it
WRITES = ("complete_many", "fail", "release", "progress")


class HeldBack(Meddled):
    """Calls of the methods in ``held`` wait while ``hold()`` is on; ``calls`` counts the calls
    of every method named, ``busy`` those under way past the wait."""

    def __init__(self, inner: Store, held: tuple[str, ...], counted: tuple[str, ...]) -> None:
        self._moving = asyncio.Event()
        self._moving.set()
        self._held = set(held)
        self.calls: Counter[str] = Counter()
        self.busy: Counter[str] = Counter()
        names = set(held) | set(counted)
        super().__init__(inner, {name: functools.partial(self._call, name) for name in names})

    def hold(self) -> None:
        self._moving.clear()

    def let_go(self) -> None:
        self._moving.set()

    def quiet(self) -> bool:
        """No held-back method is under way."""
        return all(self.busy[name] == 0 for name in self._held)

    async def _call(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        if name in self._held:
            await self._moving.wait()
        self.calls[name] += 1
        self.busy[name] += 1
        try:
            return await method(*args, **kwargs)
        finally:
            self.busy[name] -= 1


class Handler:
    """The job's handler in one of three shapes, and what it saw: ``started``, ``stopped`` (it
    learned that it was cancelled), ``returned`` (its thread or coroutine is over)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.returned = threading.Event()
        self.saw_cancelled: list[bool] = []

    def _say(self, event: asyncio.Event) -> None:
        self._loop.call_soon_threadsafe(event.set)

    async def cancelled_async(self, payload: dict[str, Any], ctx: JobContext) -> str:
        """Cancelled at its ``await``; reports progress on its way out, then re-raises."""
        try:
            self._say(self.started)
            ctx.progress(0.5, "before")
            await asyncio.Event().wait()  # until cancelled
            return "never"
        except asyncio.CancelledError:
            self.saw_cancelled.append(ctx.cancelled)
            ctx.progress(0.9, "after")
            self._say(self.stopped)
            raise
        finally:
            self.returned.set()

    async def stubborn_async(self, payload: dict[str, Any], ctx: JobContext) -> str:
        """Swallows the cancellation and returns a result: it must be dropped."""
        try:
            self._say(self.started)
            ctx.progress(0.5, "before")
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.saw_cancelled.append(ctx.cancelled)
                ctx.progress(0.9, "after")
                self._say(self.stopped)
            return "late result"
        finally:
            self.returned.set()

    def blocking_def(self, payload: dict[str, Any], ctx: JobContext) -> str:
        """A plain ``def`` in its thread: waits for ``ctx.wait_cancelled``, then reports and
        returns a result: both must be dropped."""
        try:
            self._say(self.started)
            ctx.progress(0.5, "before")
            if ctx.wait_cancelled(30):
                self.saw_cancelled.append(ctx.cancelled)
                ctx.progress(0.9, "after")
                self._say(self.stopped)
                return "late result"
            return "not cancelled within 30 s"
        finally:
            self.returned.set()


@pytest.fixture
async def fq(store_url: str, clock: FakeClock) -> AsyncIterator[JobQueue]:
    """A JobQueue on a fresh database of each backend, on the fake clock, running nothing."""
    queue = JobQueue(
        store_url,
        clock=clock,
        builtins=False,
        accept_unknown_types=True,  # each test registers its handler with its own pool
        postgres=PostgresOptions(pool_size=4),
    )
    async with queue:
        yield queue


@pytest.mark.parametrize("shape", ["cancelled_async", "stubborn_async", "blocking_def"])
async def test_a_run_whose_lease_is_taken_stops_and_writes_nothing(
    fq: JobQueue, clock: FakeClock, shape: str
) -> None:
    handler = Handler(asyncio.get_running_loop())
    registry = Registry()
    registry.job("hold", max_attempts=3)(getattr(handler, shape))
    store = HeldBack(fq.store, held=("claim", "heartbeat", "requeue_expired"), counted=WRITES)
    metrics = Metrics()
    config = PoolConfig(worker_count=1, capacity=1, lease_seconds=LEASE, poll_interval=60)
    pool = WorkerPool(store, registry, config, clock=clock, metrics=metrics)  # type: ignore[arg-type]
    job_id = (await fq.enqueue("hold")).id
    with capture_logs() as logs:
        await pool.start()
        try:
            await asyncio.wait_for(handler.started.wait(), 10)
            await wait_for(lambda: store.calls["progress"] == 1 and store.busy["progress"] == 0)

            store.hold()  # A claims and beats no more: its lease runs out
            await wait_for(store.quiet, what="A's calls under way to end")
            clock.advance(LEASE + 1)
            expired = await fq.store.expiry.requeue_expired()
            assert [(e.job_id, e.owner, e.attempt) for e in expired] == [(job_id, pool.pool_id, 1)]
            (stolen,) = await fq.store.claims.claim(
                ClaimRequest(owner=THIEF, limit=1, lease_seconds=60)
            )
            assert stolen.id == job_id and stolen.attempt == 2
            writes_before = {name: store.calls[name] for name in WRITES}

            let_go = time.monotonic()
            store.let_go()  # A's next heartbeat is refused: the run stops
            await asyncio.wait_for(handler.stopped.wait(), config.heartbeat_interval + 1)
            stopped_after = time.monotonic() - let_go
            await asyncio.wait_for(asyncio.to_thread(handler.returned.wait, 10), 15)
            await wait_for(lambda: pool.busy == 0 and pool.held == 0, what="A to let go")
        finally:
            store.let_go()
            await pool.stop(grace=5)

    assert handler.saw_cancelled == [True]
    assert stopped_after < config.heartbeat_interval, "stopped within one heartbeat"
    assert {name: store.calls[name] for name in WRITES} == writes_before, "A wrote nothing more"
    assert writes_before == {"complete_many": 0, "fail": 0, "release": 0, "progress": 1}

    await fq.store.outcomes.complete_many(
        [Completion(stolen.lease, '"thief"', WorkerId(f"{THIEF}/w1"), clock.now())]
    )
    done = await fq.get(job_id)
    assert done.status is JobState.SUCCEEDED and done.result == "thief"
    assert done.progress is None and done.progress_message is None
    history = [(a.attempt, a.outcome, a.worker_id) for a in await fq.attempts(job_id)]
    assert history == [
        (1, Outcome.LOST, pool.pool_id),
        (2, Outcome.SUCCEEDED, f"{THIEF}/w1"),
    ]

    stopped = [e for e in logs if e["event"] == "lease_lost" and e.get("run_stopped")]
    assert len(stopped) == 1 and stopped[0]["job_id"] == job_id and stopped[0]["attempt"] == 1
    assert not [e for e in logs if e["event"] in ("job_succeeded", "job_failed", "job_released")]
    labels = {"queue": "default", "type": "hold"}
    assert metrics.registry.get_sample_value("jobq_leases_lost_total", labels) == 1
    finished = labels | {"outcome": "lease_lost"}
    assert metrics.registry.get_sample_value("jobq_jobs_finished_total", finished) == 1
