"""``JobQueue``: the Python API. Register handlers, enqueue jobs, run a worker pool.

jq = JobQueue("sqlite:///jobq.db")

@jq.job("email.send", max_attempts=5, timeout=30)
async def send(payload): ...

async with jq:
    job = await jq.enqueue("email.send", {"to": "a@example.com"})
    await jq.run(until_idle=True)
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack, cast, overload

import structlog
from structlog.typing import FilteringBoundLogger

from jobq.builtin_jobs import builtin_registry
from jobq.catalog import Catalog
from jobq.clock import Clock, SystemClock
from jobq.domain.errors import (
    IllegalTransition,
    InvalidJob,
    JobNotFound,
    JobqError,
    StoreUnavailable,
)
from jobq.domain.ids import JobId, new_job_id
from jobq.domain.job import (
    DEFAULT_QUEUE,
    Attempt,
    Backoff,
    EnqueueResult,
    Job,
    JSONValue,
    NewJob,
    QueueCount,
)
from jobq.domain.published import TypeSpec
from jobq.domain.retention import DEFAULT_RETAIN, Retain
from jobq.domain.schedule import (
    DEFAULT_CATCH_UP,
    TICK_KEY_PREFIX,
    Missed,
    Schedule,
    make_schedule,
)
from jobq.domain.states import TERMINAL, Event, JobState, sources
from jobq.domain.unique import Unique
from jobq.domain.workflows import Workflow
from jobq.flows import Flow, Step
from jobq.insights import (
    KnownTypes,
    Overview,
    QueueInfo,
    TypeInfo,
    TypeWaiting,
    no_jobs,
    overview,
    queues,
    runner_missing,
    schemas_differ,
    types,
    types_waiting,
)
from jobq.intake import check_new_job
from jobq.limits import LimitSettings
from jobq.metrics import Metrics
from jobq.pauses import Pauses
from jobq.pruning import Pruning
from jobq.redaction import redact_payload
from jobq.registry import Handler, Registry
from jobq.schedules import Schedules
from jobq.store import JobFilter, Page, PostgresOptions, Store, open_store
from jobq.store.ports import Tokens
from jobq.typed import EnqueueOptions, JobDecorator, TypedJob, payload_json
from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool
from jobq.worker.pruner import Pruner
from jobq.worker.scheduler import Scheduler
from jobq.workflows import Workflows

logger: FilteringBoundLogger = structlog.get_logger("jobq.queue")

DEFAULT_DATABASE_URL = "sqlite:///jobq.db"
RETRY_DEAD_PAGE = 500
#: jobs ``cancel_many`` cancels by default, and at most, in one call
CANCEL_MANY_DEFAULT = 1_000
CANCEL_MANY_MAX = 10_000
#: the states ``cancel_many`` goes through when given none: the waiting ones first
CANCEL_MANY_ORDER = (JobState.PENDING, JobState.FAILED, JobState.RUNNING)


P = TypeVar("P")


@dataclasses.dataclass(frozen=True, slots=True)
class CancelReport:
    #: jobs cancelled
    cancelled: int
    #: jobs that match were left: the limit was reached
    more: bool


class JobQueue:
    """Handlers, a store, and (while ``run`` runs) a worker pool in this process."""

    def __init__(
        self,
        database_url: str | None = None,
        *,
        registry: Registry | None = None,
        builtins: bool = True,
        accept_unknown_types: bool = False,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        postgres: PostgresOptions | None = None,
        migrate: bool = True,
        retain: Retain | None = None,
    ) -> None:
        """
        Args:
            database_url: where jobs live: ``sqlite:///relative.db``, ``sqlite:////abs.db``,
                or ``postgresql://user@host:5432/dbname``; ``sqlite:///jobq.db`` if not given.
                A JobQueue that ``jobq serve|worker --app`` loads: the database the process
                uses when no setting names one (``named_database_url``).
            registry: handlers to start from; a new empty one by default.
            builtins: also register the built-in types (``sleep``, ``echo``, ``http.request``).
            accept_unknown_types: enqueue types no handler here knows (another process runs
                them); by default such an enqueue raises ``UnknownJobType``.
            clock: for tests; by default the real time (on PostgreSQL, the server's clock).
            postgres: pool size and timeouts of the PostgreSQL store.
            migrate: create the database and bring its schema up to date when it opens; False
                (tools that only look): open an existing database at this jobq's schema only,
                and raise ``StoreError`` saying why otherwise, changing nothing.
            retain: how long finished jobs are kept (states left out: the defaults, 1 day
                succeeded, 7 days cancelled, 30 days dead); a job type may declare its own.
        """
        self.database_url = database_url or DEFAULT_DATABASE_URL
        #: the URL this JobQueue was given, None if it was left to the default
        self.named_database_url = database_url
        self.registry = registry if registry is not None else Registry()
        if builtins:
            for job_type in builtin_registry():
                if job_type.name not in self.registry:
                    self.registry.add(job_type)
        self.accept_unknown_types = accept_unknown_types
        self.clock: Clock = clock or SystemClock()
        self._store_clock = clock  # None: the store keeps its own time
        self.postgres = postgres
        self.migrate = migrate
        self.metrics = metrics
        self._store: Store | None = None
        self._pools: list[WorkerPool] = []
        #: periodic jobs: those declared here and those made at run time (in the store),
        #: enqueued at their ticks by every pool a JobQueue runs
        self.schedules = Schedules(lambda: self.store, self._check_schedule, self.clock)
        #: retention: finished jobs deleted once their time is up, by every pool a JobQueue
        #: runs, or by hand (``jq.pruning.prune()``)
        self.pruning = Pruning(
            lambda: self.store.retention,
            self.registry,
            DEFAULT_RETAIN | (retain.times if retain is not None else {}),
        )
        #: paused queues: no claim anywhere takes their jobs until they are resumed
        self.pauses = Pauses(lambda: self.store.queue_control, self.clock, self._wake_pools)
        #: limits: how many jobs of a type or queue run at once, or start per period, fleet-wide
        self.limits = LimitSettings(lambda: self.store.limit_control, self.registry)
        #: job types: this process's own, and those live worker processes published (their
        #: payload schemas are checked at every enqueue, here too)
        self.catalog = Catalog(lambda: self.store.type_catalog, self.registry)
        #: workflows: jobs that wait for other jobs, submitted together
        self.workflows = Workflows(
            lambda: self.store.dependencies,
            lambda: self.store.admin,
            lambda type, payload, **options: self.new_job(
                type, self.payload_json(type, payload), **options
            ),
            self.catalog,
            self.clock,
            self._wake_pools,
        )

    # -- handlers ---------------------------------------------------------------------------

    def job(
        self,
        name: str | None = None,
        *,
        schedule: str | None = None,
        timezone: str = "UTC",
        payload: Mapping[str, JSONValue] | None = None,
        **options: Any,
    ) -> JobDecorator:
        """Decorator registering a handler: ``async def`` runs on the loop, ``def`` in a thread.

        Options: ``max_attempts`` (default 3), ``timeout`` (seconds, default 300; None for
        none), ``backoff`` (a ``Backoff``), ``non_retryable`` (exception classes), ``secret``
        (payload field names whose values the API, the dashboard and error text never show),
        ``retain`` (a ``Retain``: how long this type's finished jobs are kept, instead of the
        process's settings), ``concurrency`` (a number, or a ``Limit`` counted per value of a
        payload field: how many of its jobs may run at once across the fleet), ``rate`` (a
        ``Rate``: how many may start per period). A limit set at run time
        (``jq.limits.set``) wins over the code's until cleared. ``payload_schema`` /
        ``result_schema``: JSON Schemas for a handler that takes and returns plain JSON (a
        handler annotated with a pydantic model, a dataclass or a TypedDict has its schema
        from the annotation).

        The payload is checked against the type's schema at every enqueue (``InvalidJob``
        names each bad field) and stored with the schema's defaults filled in; the handler
        receives the validated model. The decorated function becomes a ``TypedJob``: still
        callable, and ``await fn.enqueue(Model(...))`` enqueues it, type-checked.

        ``schedule``: also enqueue this type at each tick of a cron expression (five fields,
        or six with seconds first) in ``timezone``, with ``payload``; a schedule named after
        the type (``schedule()`` adds more, and says what ``missed`` ticks become).
        """
        register = self.registry.job(name, queue=self, **options)
        if schedule is None:
            return register

        def register_and_schedule(handler: Handler) -> TypedJob[Any, Any]:
            typed = register(handler)
            self.schedule(typed.name, schedule, timezone=timezone, payload=payload)
            return typed

        return cast(JobDecorator, register_and_schedule)

    def schedule(
        self,
        job_type: str,
        cron: str,
        *,
        name: str | None = None,
        timezone: str = "UTC",
        payload: Mapping[str, JSONValue] | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        missed: Missed | str = Missed.SKIP,
        catch_up: int = DEFAULT_CATCH_UP,
    ) -> Schedule:
        """Enqueue ``job_type`` with ``payload`` at every tick of ``cron`` (``"0 7 * * *"``;
        six fields: seconds first) in ``timezone`` (an IANA name), from every ``serve`` and
        ``worker`` process that runs this JobQueue, one job per tick however many run.

        ``name``: unique among the schedules (default: the job type). ``missed``: what ticks
        missed while no process ran become: ``skip`` (none; the default), ``latest`` (one job,
        for the latest), ``all`` (one job each, the latest ``catch_up`` of them).
        ``ValueError`` names what is wrong.
        """
        made = make_schedule(
            job_type,
            cron,
            name=name,
            timezone=timezone,
            payload=payload,
            queue=queue,
            priority=priority,
            missed=missed,
            catch_up=catch_up,
        )
        self.schedules.declare(made)
        return made

    def _check_schedule(self, schedule: Schedule) -> None:
        """The job of ``schedule`` passes the checks of any enqueue from here (a type this
        process knows, unless it accepts unknown types)."""
        check_new_job(
            schedule.job_type,
            schedule.payload,
            registry=self.registry,
            clock=self.clock,
            accept_unknown_types=self.accept_unknown_types or self.catalog.knows(schedule.job_type),
            check_payload=self.catalog.check,
            queue=schedule.queue,
            priority=schedule.priority,
            run_at=self.clock.now(),
            idempotency_key=schedule.tick_key(self.clock.now()),
        )

    def tick_job(self, schedule: Schedule, tick: datetime) -> NewJob:
        """The job ``schedule`` enqueues at ``tick``: due then, keyed by the schedule and tick.
        A stored schedule's type was checked when it was made: a process that fires it need
        not run that type."""
        return check_new_job(
            schedule.job_type,
            schedule.payload,
            registry=self.registry,
            clock=self.clock,
            accept_unknown_types=self.accept_unknown_types or schedule.stored,
            check_payload=self.catalog.check,
            queue=schedule.queue,
            priority=schedule.priority,
            run_at=tick,
            idempotency_key=schedule.tick_key(tick),
        )

    def visible(self, job: Job) -> Job:
        """``job`` as people may see it: its type's secret payload fields redacted."""
        job_type = self.registry.get(job.type)
        if job_type is None or not job_type.secret:
            return job
        return dataclasses.replace(job, payload=redact_payload(job.payload, job_type.secret))

    # -- store ------------------------------------------------------------------------------

    async def open(self) -> Self:
        """Open the store (creating and migrating it if needed, unless ``migrate`` is False)."""
        if self._store is None:
            self._store = await open_store(
                self.database_url,
                clock=self._store_clock,
                postgres=self.postgres,
                migrate=self.migrate,
            )
        return self

    async def close(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    async def __aenter__(self) -> Self:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise StoreUnavailable(
                "the JobQueue is not open: use `async with jq:` or `await jq.open()`"
            )
        return self._store

    @property
    def tokens(self) -> Tokens:
        """The store's API tokens (``jobq tokens``, the API's authenticator)."""
        return self.store.tokens

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
        await self.store.ping()

    # -- enqueue ----------------------------------------------------------------------------

    def new_job(
        self,
        type: str,
        payload: Mapping[str, JSONValue] | None = None,
        *,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        delay: float | None = None,
        run_at: datetime | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        backoff: Backoff | None = None,
        idempotency_key: str | None = None,
        unique: Unique | None = None,
        depends_on: Sequence[str] = (),
        on_dependency_failure: str = "cancel",
    ) -> NewJob:
        """Check the fields, fill in defaults; raise ``InvalidJob`` or ``UnknownJobType``.
        ``depends_on``: ids of jobs it waits for (``waiting`` until each has succeeded; one
        that ends dead or cancelled cancels it, unless ``on_dependency_failure="run"``).
        ``unique``: at most one such job at a time (``Unique``); an enqueue that meets one
        returns it (``EnqueueResult.unique_hit``) instead of making another.
        Idempotency keys that start with ``schedule:`` are the periodic jobs' own."""
        if idempotency_key is not None and idempotency_key.startswith(TICK_KEY_PREFIX):
            raise InvalidJob(
                f"idempotency keys that start with {TICK_KEY_PREFIX!r} are kept for the jobs "
                "of periodic schedules"
            )
        return check_new_job(
            type,
            payload,
            registry=self.registry,
            clock=self.clock,
            accept_unknown_types=self.accept_unknown_types or self.catalog.knows(type),
            check_payload=self.catalog.check,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff=backoff,
            idempotency_key=idempotency_key,
            unique=unique,
            depends_on=depends_on,
            on_dependency_failure=on_dependency_failure,
        )

    @overload
    async def enqueue(
        self,
        type: TypedJob[P, Any],
        payload: P,
        *,
        connection: object | None = None,
        **options: Unpack[EnqueueOptions],
    ) -> Job: ...

    @overload
    async def enqueue(
        self,
        type: str,
        payload: Mapping[str, JSONValue] | None = None,
        *,
        connection: object | None = None,
        **options: Any,
    ) -> Job: ...

    async def enqueue(
        self,
        type: str | TypedJob[Any, Any],
        payload: Mapping[str, JSONValue] | Any | None = None,
        *,
        connection: object | None = None,
        **options: Any,
    ) -> Job:
        """Store one job durably and return it. Options as for ``new_job``. ``type`` may be a
        ``TypedJob`` (what ``@jq.job`` returns) and ``payload`` its model.

        With an ``idempotency_key`` that names a job already, that job is returned unchanged
        (``IdempotencyConflict`` if it differs in type, queue or payload).

        ``connection`` (PostgreSQL): your own psycopg ``AsyncConnection``; the job joins its
        open transaction, so it exists only if that transaction commits, and workers hear of
        it only then.
        """
        if isinstance(type, TypedJob):
            typed = type
            payload = typed.payload_json(payload)
            type = typed.name
        else:
            payload = self.payload_json(type, payload)
        await self.catalog.refresh()
        new = self.new_job(type, payload, **options)
        return (await self.enqueue_many([new], connection=connection))[0].job

    def payload_json(self, type: str, payload: Mapping[str, JSONValue] | Any | None) -> Any:
        """``payload`` as JSON: a model of ``type``'s handler dumped; a mapping as it is."""
        if payload is None or isinstance(payload, Mapping):
            return payload
        job_type = self.registry.get(type)
        return payload_json(job_type.payload if job_type else None, payload)

    async def enqueue_many(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[EnqueueResult]:
        """Store ``jobs`` in one transaction: all of them or, on any error, none.
        ``connection`` as for ``enqueue``. Jobs with ``depends_on`` are stored waiting."""
        if any(job.depends_on for job in jobs):
            if connection is not None:
                raise InvalidJob("jobs with depends_on cannot join your own transaction (yet)")
            stored = await self.store.dependencies.add(jobs, [new_job_id() for _ in jobs])
            results = [EnqueueResult(job, created=True) for job in stored]
        elif connection is None:
            results = await self.store.enqueuer.enqueue(jobs)
        elif self.store.transactional is None:
            raise InvalidJob(
                "enqueue inside your own transaction (connection=) needs the PostgreSQL store; "
                "on SQLite, jobq's own transaction already makes each enqueue durable"
            )
        else:
            results = await self.store.transactional.enqueue_in(connection, jobs)
        created = [r.job for r in results if r.created]
        if created:
            log = logger.bind()  # one logger for the batch, not one made per line
            if log.is_enabled_for(logging.INFO):  # skip building lines nobody will see
                for job in created:
                    log.info(
                        "job_enqueued",
                        job_id=job.id,
                        job_type=job.type,
                        queue=job.queue,
                        run_at=job.run_at.isoformat(),
                        in_transaction=connection is not None,
                    )
            if self.metrics is not None:
                kinds = Counter((job.queue, job.type) for job in created)
                for (queue, job_type), count in kinds.items():
                    self.metrics.job_enqueued(queue, job_type, count)
            for pool in self._pools:
                pool.notify()
        return results

    # -- reading and managing ---------------------------------------------------------------

    async def get(self, job_id: JobId | str) -> Job:
        job = await self.store.reads.get(JobId(job_id))
        if job is None:
            raise JobNotFound(f"no job has the id {job_id}")
        return job

    async def find(self, job_id: JobId | str) -> Job | None:
        """The job, or None if no job has that id."""
        return await self.store.reads.get(JobId(job_id))

    async def attempts(self, job_id: JobId | str) -> list[Attempt]:
        return await self.store.reads.attempts(JobId(job_id))

    async def list_jobs(
        self, where: JobFilter | None = None, *, limit: int = 50, after: JobId | None = None
    ) -> Page:
        """Jobs newest first, filtered; ``after``: the ``next_after`` of the page before."""
        where = where or JobFilter()
        if where.matches_nothing:
            return Page([], None)
        return await self.store.reads.list_jobs(where, limit=limit, after=after)

    async def counts(self) -> list[QueueCount]:
        """Jobs by queue and status."""
        return await self.store.reads.counts()

    async def overview(self, *, minutes: int = 60) -> Overview:
        """Queues, worker pools, attempts ended per minute over ``minutes``, the oldest wait."""
        store = self.store
        return await overview(
            store.reads,
            store.queue_control,
            store.limit_control,
            minutes=minutes,
            now=self.clock.now(),
        )

    async def queues(self) -> list[QueueInfo]:
        """Every queue that has jobs, a pause or a limit, by name: its jobs by status, its
        pause, its limits."""
        return await queues(self.store.reads, self.store.queue_control, self.store.limit_control)

    async def queue(self, name: str) -> QueueInfo:
        """One queue, as ``queues`` shows it (no jobs, pause or limit: all counts 0)."""
        found = next((info for info in await self.queues() if info.name == name), None)
        return found or QueueInfo(name, no_jobs(), None)

    async def types(self) -> list[TypeInfo]:
        """Every job type that has jobs waiting or running, a limit, or a handler here, by
        name: how many wait and run, and its limits."""
        await self.catalog.refresh(fresh_for=0)
        known = KnownTypes(self._type_specs(), self.catalog.published, self.catalog.conflicts())
        return await types(self.store.reads, self.store.limit_control, self.registry.names(), known)

    async def warnings(self) -> list[str]:
        """What is off across the fleet: job types whose live processes publish different
        payload schemas."""
        await self.catalog.refresh()
        return [schemas_differ(name, d) for name, d in sorted(self.catalog.conflicts().items())]

    async def job_type(self, name: str) -> TypeInfo:
        """One job type, as ``types`` shows it."""
        found = next((info for info in await self.types() if info.name == name), None)
        return found or TypeInfo(name, 0, 0, name in self.registry)

    async def waiting(self) -> list[TypeWaiting]:
        """Due jobs by type, and which of them no live worker process can run."""
        return await types_waiting(self.store.reads, now=self.clock.now())

    async def runner_missing(self, queue: str, job_type: str) -> str | None:
        """Why a job of ``job_type`` in ``queue`` would wait for ever (no live worker process
        claims that type there), or None when one does."""
        return await runner_missing(self.store.reads, queue, job_type)

    async def cancel(self, job_id: JobId | str) -> Job:
        """Cancel a pending, failed or running job; a running one's run is stopped (its process
        hears of it at once) and its attempt recorded as cancelled. ``IllegalTransition`` for
        a job that ended; ``JobNotFound``."""
        job = await self.store.admin.cancel(JobId(job_id))
        logger.info("job_cancelled", job_id=job.id, job_type=job.type, queue=job.queue)
        return job

    # -- workflows ----------------------------------------------------------------------------

    async def submit(self, flow: Step | Flow, *, name: str | None = None) -> Workflow:
        """Store every job of ``flow`` in one transaction (``jq.workflows.submit``)."""
        return await self.workflows.submit(flow, name=name)

    async def cancel_many(
        self,
        *,
        job_type: str | None = None,
        queue: str | None = None,
        status: JobState | None = None,
        limit: int = CANCEL_MANY_DEFAULT,
    ) -> CancelReport:
        """Cancel up to ``limit`` jobs of ``job_type`` and ``queue`` (each, if given) that are
        ``status`` (pending, failed or running; None: any of them, in that order), newest first
        within each state, each in its own short transaction; running ones are stopped as
        ``cancel`` stops one. ``more``: jobs
        that match are left (the limit was reached). Jobs that change state meanwhile are left
        as they are. ``ValueError``: no filter at all, a status that cannot be cancelled, or a
        limit outside 1..``CANCEL_MANY_MAX``."""
        if job_type is None and queue is None and status is None:
            raise ValueError("say which jobs: a type, a queue or a status (or several)")
        if status is not None and status not in sources(Event.CANCEL):
            raise ValueError(f"{status.value} jobs cannot be cancelled")
        if not 1 <= limit <= CANCEL_MANY_MAX:
            raise ValueError(f"limit must be 1..{CANCEL_MANY_MAX}")
        states = [status] if status is not None else list(CANCEL_MANY_ORDER)
        cancelled, more = 0, False
        for state in states:
            where = JobFilter(status=state, type=job_type, queue=queue)
            if where.matches_nothing:
                break
            after: JobId | None = None
            while True:
                page = await self.store.reads.list_jobs(where, limit=RETRY_DEAD_PAGE, after=after)
                for job in page.jobs:
                    if cancelled == limit:
                        more = True
                        break
                    try:
                        await self.store.admin.cancel(job.id, only_from=state)
                    except (IllegalTransition, JobNotFound):
                        continue  # it moved on (a pending job claimed), or went, since read
                    cancelled += 1
                if more or page.next_after is None:
                    break
                after = page.next_after
            if more:
                break
        if cancelled:
            logger.info(
                "jobs_cancelled",
                job_type=job_type,
                queue=queue,
                status=None if status is None else status.value,
                count=cancelled,
            )
        return CancelReport(cancelled, more)

    async def retry(self, job_id: JobId | str) -> Job:
        job = await self.store.admin.retry(JobId(job_id))
        logger.info("job_retried", job_id=job.id, job_type=job.type, queue=job.queue, by="request")
        self._wake_pools()
        return job

    def _wake_pools(self) -> None:
        """Jobs may be claimable now: this process's pools claim at once."""
        for pool in self._pools:
            pool.notify()

    async def retry_dead(self, job_type: str, *, queue: str | None = None) -> int:
        """Make every dead job of ``job_type`` (in ``queue``, if given) pending again; return
        how many. Jobs that change state meanwhile are left as they are."""
        retried = 0
        where = JobFilter(status=JobState.DEAD, type=job_type, queue=queue)
        if where.matches_nothing:
            return 0
        after: JobId | None = None
        while True:  # newest first, each page after the last: every job is visited once
            page = await self.store.reads.list_jobs(where, limit=RETRY_DEAD_PAGE, after=after)
            for job in page.jobs:
                try:
                    await self.store.admin.retry(job.id)
                except (IllegalTransition, JobNotFound):
                    continue  # retried, or gone, since the page was read
                retried += 1
            if page.next_after is None:
                break
            after = page.next_after
        if retried:
            logger.info("jobs_retried", job_type=job_type, queue=queue, count=retried)
            self._wake_pools()
        return retried

    async def wait(
        self,
        job_id: JobId | str,
        *,
        timeout: float | None = None,
        interval: float = 0.1,
        on_change: Callable[[Job], None] | None = None,
    ) -> Job:
        """Poll until the job is succeeded, dead or cancelled; ``TimeoutError`` after
        ``timeout`` seconds. ``on_change`` sees the job whenever its status, attempt or
        progress changes."""
        seen: tuple[Any, ...] | None = None
        async with asyncio.timeout(timeout):
            while True:
                job = await self.get(job_id)
                now = (job.status, job.attempt, job.progress, job.progress_message)
                if on_change is not None and now != seen:
                    seen = now
                    on_change(job)
                if job.status in TERMINAL:
                    return job
                await asyncio.sleep(interval)

    # -- workers ----------------------------------------------------------------------------

    def worker_pool(self, config: PoolConfig | None = None) -> WorkerPool:
        """A pool on this queue's store; enqueues through this queue wake it at once. It also
        keeps this queue's schedules (periodic jobs)."""
        scheduler = Scheduler(
            self.store.ticks,
            list(self.schedules),
            self.tick_job,
            clock=self.clock,
            log=structlog.get_logger("jobq.scheduler"),
            stored=self.store.schedules,
            on_enqueued=self._scheduled,
        )
        pool = WorkerPool(
            self.store,
            self.registry,
            config,
            clock=self.clock,
            metrics=self.metrics,
            specs=self._type_specs,
            services=[
                scheduler,
                Pruner(
                    self.pruning,
                    log=structlog.get_logger("jobq.pruner"),
                    metrics=self.metrics,
                    interval=(config or PoolConfig()).prune_interval,
                ),
            ],
        )
        self._pools.append(pool)
        return pool

    def _type_specs(self) -> list[TypeSpec]:
        """What this process's pools publish about its types: the registry's, with the
        schedules declared in code for each."""
        by_type: dict[str, list[dict[str, Any]]] = {}
        for schedule in self.schedules:
            if not schedule.stored:
                by_type.setdefault(schedule.job_type, []).append(
                    {
                        "name": schedule.name,
                        "cron": schedule.expression,
                        "timezone": schedule.timezone,
                    }
                )
        return self.registry.specs(by_type)

    def _scheduled(self, job: Job) -> None:
        """A schedule enqueued ``job``: count it, wake the pools."""
        if self.metrics is not None:
            self.metrics.job_enqueued(job.queue, job.type, 1)
        for pool in self._pools:
            pool.notify()

    def detach(self, pool: WorkerPool) -> None:
        if pool in self._pools:
            self._pools.remove(pool)

    async def run(self, config: PoolConfig | None = None, *, until_idle: bool = False) -> None:
        """Run a worker pool until cancelled, or with ``until_idle`` until nothing is due.

        On cancellation the pool shuts down in order (see ``WorkerPool.stop``).
        """
        pool = self.worker_pool(config)
        await pool.start()
        try:
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(pool.failed.wait())]
            if until_idle:
                waits.append(asyncio.ensure_future(pool.wait_until_idle()))
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
            if pool.failed.is_set():
                raise JobqError(f"the worker pool failed: {pool.failure!r}")
        finally:
            await asyncio.shield(pool.stop())
            self.detach(pool)
