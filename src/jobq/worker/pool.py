"""The worker pool: one dispatcher, one shared bounded buffer, N workers.

    store ──claim(limit = demand)──▶ dispatcher ──▶ [ buffer: JOB_QUEUE_CAPACITY ] ──▶ worker 1..N
                                                                                      │
    store ◀── complete_many (batched by the acknowledger) / fail / release ───────────┘
              (every write under the job's lease)

Fan-out: every worker takes the next job from the one buffer; the first free worker wins.
The dispatcher claims for demand: one job per free worker plus a prefetch (``prefetch.py``),
less what is buffered, so a busy pool leaves the backlog in the store for the rest of the
fleet; a worker that finishes wakes the dispatcher to claim its next job.
A worker hands its job's success to the acknowledger and takes the next job at once; the job
stays held (its lease extended) until the batch with its success is written.
Which claims the pool holds, and in what state, is ``leases.HeldJobs``.
Side tasks, supervised (``supervisor.py``): the heartbeat extends the leases of held jobs; the
reaper requeues expired ones; presence reports the pool to the store; a listener wakes the
dispatcher when another process enqueues (PostgreSQL: LISTEN; SQLite: a thread watching for
other processes' commits). The process's own services (periodic jobs: ``scheduler.py``) sit
beside them. If a side task dies of a bug, ``failed`` is set and the service shuts the pool down.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from structlog.typing import FilteringBoundLogger

from jobq.clock import Clock, SystemClock
from jobq.domain.errors import StoreError
from jobq.domain.ids import PoolId, WorkerId, new_pool_id, slot_id
from jobq.domain.job import Job, ProcessInfo
from jobq.domain.published import TypeSpec
from jobq.metrics import Metrics
from jobq.registry import Registry
from jobq.store.claim import Claimed, ClaimRequest
from jobq.store.ports import RUN_CANCELLED, PoolStore
from jobq.worker.acks import Acknowledger
from jobq.worker.config import PoolConfig, StopReport
from jobq.worker.handback import hand_back
from jobq.worker.heartbeat import Heartbeat
from jobq.worker.leases import HeldJobs
from jobq.worker.prefetch import Prefetch
from jobq.worker.presence import PRESENCE_INTERVAL, PresenceReporter
from jobq.worker.publisher import TypePublisher
from jobq.worker.reaper import Reaper
from jobq.worker.runner import JobRunner
from jobq.worker.supervisor import Service, Supervisor
from jobq.worker.threads import HandlerThreads

logger: FilteringBoundLogger = structlog.get_logger("jobq.worker")

MAX_STORE_BACKOFF = 10.0


#: seconds a pool held back by a rate waits at least before it claims again
ROOM_AT_LEAST = 0.02


class WorkerPool:
    def __init__(
        self,
        store: PoolStore,
        registry: Registry,
        config: PoolConfig | None = None,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        pool_id: PoolId | None = None,
        services: Sequence[Service] = (),
        specs: Callable[[], Sequence[TypeSpec]] | None = None,
    ) -> None:
        """``services``: side tasks of the process to run beside the pool's own (periodic
        jobs), started and stopped with it. ``specs``: what it publishes about its job types
        (default: the registry's, without schedules)."""
        self.config = config or PoolConfig()
        self.pool_id = pool_id or new_pool_id()
        self._store = store
        self._registry = registry
        self._clock = clock or SystemClock()
        self._metrics = metrics
        self._threads = HandlerThreads()
        # Pool-level lines (claims, hand-backs) name the pool; workers bind their own id.
        self._log = logger.bind(worker_id=self.pool_id)
        self._supervisor = Supervisor(self._log, on_failure=self._failed)
        self._acks = Acknowledger(store.outcomes, self._log)
        self._acks_task: asyncio.Task[None] | None = None
        self._publisher = TypePublisher(
            store.limit_control, store.type_catalog, registry, self.pool_id, self._log, specs
        )
        self._runner = JobRunner(
            store.outcomes,
            registry,
            clock=self._clock,
            threads=self._threads,
            metrics=metrics,
            acks=self._acks,
            on_retry_scheduled=self._wake_at,
            on_outcome=self._outcome_coming,
            on_acknowledged=self._acknowledged,
            dependencies=store.dependencies,
        )
        self._buffer: asyncio.Queue[Job] = asyncio.Queue(maxsize=self.config.capacity)
        self._held = HeldJobs()
        self._prefetch = Prefetch(
            self.config.prefetch, workers=self.config.worker_count, capacity=self.config.capacity
        )
        self._released = 0
        self._wake = asyncio.Event()  # new work may be due
        self._cancels = asyncio.Event()  # a running job was cancelled somewhere
        self._room = asyncio.Event()  # the buffer has room again
        self._idle_now = asyncio.Event()  # a claim found nothing due and nothing is held
        self._watch_idle = False
        self._settled_count = 0  # outcomes written so far (what a claim may not have seen)
        self._stopping = False
        self._busy = 0
        self._dispatcher: asyncio.Task[None] | None = None
        self._side_tasks: list[asyncio.Task[None]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._idle_workers: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._started_at = self._clock.now()
        self._services = tuple(services)
        #: the last claim was held back by a limit
        self._held_back = False

    # -- what others may read ---------------------------------------------------------------

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def buffered(self) -> int:
        return self._buffer.qsize()

    @property
    def held(self) -> int:
        return len(self._held)

    @property
    def types(self) -> tuple[str, ...]:
        """The job types this pool claims: those it has handlers for (read at each claim, so a
        handler registered after the start counts)."""
        return tuple(self._registry.names())

    @property
    def worker_ids(self) -> list[WorkerId]:
        return [slot_id(self.pool_id, i) for i in range(1, self.config.worker_count + 1)]

    @property
    def failed(self) -> asyncio.Event:
        """Set when a side task died: the pool stopped claiming and should be stopped."""
        return self._supervisor.failed

    @property
    def failure(self) -> BaseException | None:
        return self._supervisor.failure

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        config = self.config
        self._log.info(
            "pool_started",
            worker_count=config.worker_count,
            capacity=config.capacity,
            prefetch=config.prefetch,
            lease_seconds=config.lease_seconds,
            queues=config.queues,
        )
        if self._metrics is not None:
            self._metrics.watch_pool(config.worker_count, lambda: self._busy, lambda: self.buffered)
        supervisor = self._supervisor
        publisher = self._publisher
        await publisher.publish()  # before the first claim: the code's limits hold from it
        self._dispatcher = supervisor.start(self._dispatch(), "dispatcher")
        self._acks_task = supervisor.start(self._acks.run(), "acknowledger")
        services: tuple[Service, ...] = (
            Heartbeat(
                self._store.claims,
                self._held.jobs,
                self._leases_lost,
                interval=config.heartbeat_interval,
                lease_seconds=config.lease_seconds,
                log=self._log,
            ),
            Reaper(
                self._store.expiry,
                interval=config.reap_interval,
                log=self._log,
                metrics=self._metrics,
                on_requeued=self.notify,
            ),
            PresenceReporter(
                self._store.presence,
                self._process_info,
                interval=min(PRESENCE_INTERVAL, config.heartbeat_interval),
                log=self._log,
            ),
            publisher,
            *self._services,
        )
        self._side_tasks = [supervisor.start_service(service) for service in services]
        self._side_tasks.append(supervisor.start(self._stop_cancelled_runs(), "cancels"))
        listening = self._store.listener.listen(self._heard)  # claim as soon as others enqueue
        self._side_tasks.append(supervisor.start(listening, "listener"))
        self._workers = [
            asyncio.create_task(self._work(worker_id), name=f"jobq-{worker_id}")
            for worker_id in self.worker_ids
        ]

    def notify(self) -> None:
        """New jobs may be due: claim now instead of at the next poll."""
        self._wake.set()

    def _process_info(self) -> ProcessInfo:
        return ProcessInfo(
            id=self.pool_id,
            host=socket.gethostname(),
            pid=os.getpid(),
            workers=self.config.worker_count,
            busy=self._busy,
            buffered=self.buffered,
            queues=self.config.queues,
            started_at=self._started_at,
            seen_at=self._clock.now(),
            types=self.types,
        )

    def _heard(self, queue: str | None) -> None:
        """The store says jobs of ``queue`` (None: of any queue) may be due, or that a running
        job was cancelled (``RUN_CANCELLED``: perhaps one of ours)."""
        if queue == RUN_CANCELLED:
            self._cancels.set()
        elif queue is None or self.config.queues is None or queue in self.config.queues:
            self._wake.set()

    async def _stop_cancelled_runs(self) -> None:
        """Each time a running job is cancelled somewhere, stop the runs of ours that were (one
        question to the store for every held lease; cancels that come meanwhile wait for the
        next)."""
        while True:
            await self._cancels.wait()
            self._cancels.clear()
            held = self._held.jobs()
            try:
                cancelled = await self._store.claims.cancelled([job.lease for job in held])
            except StoreError as exc:  # the heartbeat finds them gone in time
                self._log.warning("cancel_check_failed", error=str(exc))
                continue
            for job in held:
                if job.id in cancelled:
                    self._run_cancelled(job)

    async def wait_until_idle(self) -> None:
        """Return once a claim finds nothing due and no job is held (for scripts and tests)."""
        self._watch_idle = True
        self._idle_now.clear()
        self.notify()
        await self._idle_now.wait()

    async def stop(self, grace: float | None = None) -> StopReport:
        """Stop claiming, hand back unstarted jobs, let running ones finish for ``grace`` seconds
        (default: ``shutdown_timeout``, counted from now), then interrupt and hand back the rest."""
        grace = self.config.shutdown_timeout if grace is None else grace
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        self._stopping = True
        self._supervisor.stopping()
        self._log.info("pool_stopping", running=self._busy, buffered=self.buffered, grace=grace)
        self._wake.set()
        self._room.set()
        if self._dispatcher is not None:
            await asyncio.gather(self._dispatcher, return_exceptions=True)  # ends its claim first
        for task in list(self._idle_workers):
            task.cancel()
        unstarted = []
        while not self._buffer.empty():
            unstarted.append(self._buffer.get_nowait())
        released = await hand_back(self._store.claims, unstarted, self._log)
        self._released += released  # (`x += await ...` would read x before the await)
        for job in unstarted:
            self._forget(job)
        running = [task for task in self._workers if not task.done()]
        finished: set[asyncio.Task[None]] = set()
        late: set[asyncio.Task[None]] = set()
        if running:
            finished, late = await asyncio.wait(running, timeout=max(0.0, deadline - loop.time()))
        for task in late:
            task.cancel()  # the runner hands the job back, then re-raises
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._acks.close()  # write every success handed over, while the heartbeat still runs
        if self._acks_task is not None:
            await asyncio.gather(self._acks_task, return_exceptions=True)
        for task in self._side_tasks:
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        for timer in self._timers:
            timer.cancel()
        self._threads.close()
        with contextlib.suppress(StoreError, TimeoutError):  # else the record goes stale
            await asyncio.wait_for(self._store.presence.forget(self.pool_id), 5)
        await self._publisher.withdraw()
        report = StopReport(
            released_unstarted=self._released,
            finished_in_grace=sum(1 for t in finished if not t.cancelled()),
            interrupted=self._runner.interrupted,
        )
        self._log.info(
            "pool_stopped",
            released_unstarted=report.released_unstarted,
            interrupted=report.interrupted,
        )
        return report

    # -- the parts --------------------------------------------------------------------------

    def _demand(self) -> int:
        """How many jobs to claim now: one per free worker, plus the prefetch, less what is
        already buffered; never beyond the buffer's capacity. A claimed job waits here, where no
        other process can run it, so a pool asks only for what it will start soon."""
        config = self.config
        buffered = self._buffer.qsize()
        wanted = config.worker_count - self._busy + self._prefetch.now - buffered
        return min(wanted, config.capacity - buffered)

    def _backed_up(self) -> bool:
        """Successes wait to be written: the store is slow; claim nothing more until it
        catches up."""
        return self._acks.pending >= self.config.capacity

    async def _dispatch(self) -> None:
        config = self.config
        backoff = config.poll_interval
        unanswered = False  # a claim failed: what it may have taken is looked for first
        while not self._stopping and not self.failed.is_set():
            demand = self._demand()
            if demand <= 0 or self._backed_up():
                # every worker is busy and the prefetch is buffered, or the store is slow
                self._room.clear()
                if self._demand() <= 0 or self._backed_up():
                    await self._room.wait()
                continue
            self._wake.clear()  # before the claim: a notify during it is not lost
            if unanswered:  # the last claim failed: perhaps it committed and its answer was lost
                try:
                    self._adopt(await self._store.claims.owned(self.pool_id))
                except StoreError as exc:
                    self._log.warning("claim_failed", error=str(exc), retry_in=backoff)
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, MAX_STORE_BACKOFF)
                    continue
                unanswered = False
                continue  # the demand has changed
            began = time.perf_counter()
            settled_before = self._settled_count
            try:
                jobs = await self._store.claims.claim(
                    ClaimRequest(
                        owner=self.pool_id,
                        limit=demand,
                        lease_seconds=config.lease_seconds,
                        queues=config.queues,
                        types=self.types,  # a job no handler here can run waits for one
                    )
                )
            except StoreError as exc:
                self._log.warning("claim_failed", error=str(exc), retry_in=backoff)
                unanswered = True
                await self._sleep(backoff)
                backoff = min(backoff * 2, MAX_STORE_BACKOFF)
                continue
            self._prefetch.claim_took(time.perf_counter() - began)
            # held back by a limit: claim again as soon as one of ours ends, or a rate's window
            # ends, not only at the poll
            self._held_back = isinstance(jobs, Claimed) and jobs.held_back
            if isinstance(jobs, Claimed) and jobs.room_at is not None:
                # (at least a moment ahead: the store's clock may run behind this one's)
                soon = self._clock.now() + timedelta(seconds=ROOM_AT_LEAST)
                self._wake_at(max(jobs.room_at, soon))
            backoff = config.poll_interval
            for job in jobs:
                self._held.hold(job)
                self._buffer.put_nowait(job)
                self._log.debug(
                    "job_claimed",
                    job_id=job.id,
                    job_type=job.type,
                    queue=job.queue,
                    attempt=job.attempt,
                )
            if len(jobs) < demand:  # nothing more is due now
                # (held back by a limit is not idle: jobs wait that the pool may run later)
                # (an outcome written while the claim ran may have released jobs that wait
                # for it, after the claim looked: not idle until a claim has seen it)
                quiet = self._settled_count == settled_before
                if self._watch_idle and not self._held and not self._held_back and quiet:
                    self._idle_now.set()
                await self._sleep(config.poll_interval)

    async def _work(self, worker_id: WorkerId) -> None:
        task = asyncio.current_task()
        assert task is not None
        log = self._log.bind(worker_id=worker_id)
        log.info("worker_started")
        try:
            while not self._stopping:
                self._idle_workers.add(task)
                try:
                    job = await self._buffer.get()
                finally:
                    self._idle_workers.discard(task)
                self._room.set()
                if self._stop_requested():  # claimed as the stop began: it must not start now
                    released = await hand_back(self._store.claims, [job], log)
                    self._released += released
                    self._forget(job)
                    break
                self._busy += 1
                settled = True
                try:
                    lost = self._held.lost_reason(job.lease)
                    if lost == "cancelled":  # cancelled before it started: nothing to run
                        log.info("job_skipped", job_id=job.id, reason=lost)
                    elif lost is not None:
                        log.warning("job_skipped", job_id=job.id, reason=lost)
                        if self._metrics is not None:
                            self._metrics.leases_lost.labels(job.queue, job.type).inc()
                    else:
                        began = time.perf_counter()
                        settled = await self._runner.run(job, worker_id)
                        self._prefetch.job_ran(time.perf_counter() - began)
                except Exception:  # a bug in jobq itself; the worker goes on
                    log.exception("worker_error", job_id=job.id)
                finally:
                    self._busy -= 1
                    self._room.set()  # a free worker: demand for one more job
                    if settled:
                        self._settled(job)
        finally:
            log.info("worker_stopped")

    def _stop_requested(self) -> bool:
        return self._stopping  # a call, so type checkers re-read it after an await

    def _acknowledged(self, job: Job) -> None:
        """The success of ``job`` was written (or given up on) by the acknowledger."""
        self._settled(job)
        self._room.set()

    def _settled(self, job: Job) -> None:
        self._settled_count += 1
        self._forget(job)
        if self._held_back or (self._watch_idle and not self._held):
            self._wake.set()

    def _forget(self, job: Job) -> None:
        """This claim is over: stop heartbeating it (unless the job was claimed again since)."""
        self._held.forget(job)

    def _outcome_coming(self, job: Job) -> None:
        self._held.ending(job)

    async def _leases_lost(self, jobs: list[Job]) -> None:
        """The heartbeat found these leases gone: cancelled ones (whose cancel was not heard)
        are stopped as cancelled, the rest as lost."""
        try:
            cancelled = await self._store.claims.cancelled([job.lease for job in jobs])
        except StoreError:
            cancelled = set()
        for job in jobs:
            if job.id in cancelled:
                self._run_cancelled(job)
            else:
                self._lease_lost(job)

    def _run_cancelled(self, job: Job) -> None:
        if self._held.lose(job, reason="cancelled"):
            self._log.info("cancel_received", job_id=job.id, job_type=job.type, attempt=job.attempt)
            self._runner.lease_lost(job.lease, reason="cancelled")

    def _lease_lost(self, job: Job) -> None:
        if self._held.lose(job):
            # Counted in the metric once, where it ends: the stopped run, the refused write, or
            # the skipped start.
            self._log.warning("lease_lost", job_id=job.id, job_type=job.type, attempt=job.attempt)
            self._runner.lease_lost(job.lease)  # a run under way stops, writing nothing

    def _wake_at(self, when: datetime) -> None:
        """Claim again when a retry this pool scheduled falls due, not at the next poll."""
        delay = (when - self._clock.now()).total_seconds()
        if delay > 3600 or self._stopping:
            return
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(timer)
            self._wake.set()

        timer = loop.call_later(max(delay, 0.0), fire)
        self._timers.add(timer)

    def _adopt(self, owned: list[Job]) -> None:
        """Jobs the store says this pool holds that it never heard of: a claim committed on
        the server whose answer was lost with its connection. They are run now, under the
        leases that claim gave them, rather than waiting for those leases to expire."""
        held = {job.id for job in self._held.jobs()}
        for job in owned:
            if job.id in held:
                continue
            if self._buffer.full():  # cannot happen: no claim ran since; the lease expires
                break
            self._held.hold(job)
            self._buffer.put_nowait(job)
            self._log.warning(
                "claim_recovered", job_id=job.id, job_type=job.type, attempt=job.attempt
            )

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _failed(self) -> None:
        """A side task died: stop claiming (nothing would extend new leases), free the
        dispatcher's waits."""
        self._wake.set()
        self._room.set()
