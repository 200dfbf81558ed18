"""The store, one small Protocol per capability. Each backend (``sqlite/``, ``postgres/``) has a
class per capability, all sharing its connections, and a ``Store`` that exposes them as
attributes; each consumer asks for the narrowest one it needs (a worker's reaper: ``Expiry``;
the API's token check: ``Tokens``).

    capability            attribute       who uses it
    Enqueuer              enqueuer        JobQueue.enqueue_many
    TransactionalEnqueuer transactional   JobQueue.enqueue_many(connection=); None on SQLite
    Claims                claims          the pool's dispatcher and heartbeat, its stop
    Outcomes              outcomes        the runner, the acknowledger, ctx.progress
    Expiry                expiry          the reaper
    Presence              presence        the pool's presence reports
    Listener              listener        the pool's wake-ups
    Reads                 reads           JobQueue's reads, the read model (insights.py)
    Admin                 admin           JobQueue.cancel, retry
    Tokens                tokens          the API's authenticator, jobq tokens
    Ticks                 ticks           the scheduler (periodic jobs), jq.schedules
    StoredSchedules       schedules       jq.schedules: schedules made at run time
    Retention             retention       the pool's pruner, jq.retention (jobq prune)
    QueueControl          queue_control   jq.pause/resume/pauses (jobq queues, /queues)
    LimitControl          limit_control   jq.limits (jobq types/queues limit), the pools' start
    TypeCatalog           type_catalog    the pools' start (publish), jq.catalog (payload checks)
    Dependencies          dependencies    jq.enqueue(depends_on=), jq.submit (workflows), ctx

A new capability: its Protocol here, a class in each backend package, an attribute of
``Store`` (optional ones may be None where a backend cannot offer them).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.job import (
    Attempt,
    EnqueueResult,
    Job,
    Lease,
    MinuteCount,
    NewJob,
    ProcessInfo,
    QueueCount,
    WaitingCount,
)
from jobq.domain.limits import Limits, LimitScope, ScopeLimits
from jobq.domain.pauses import QueuePause
from jobq.domain.published import PublishedType, TypeSpec
from jobq.domain.retention import Keep
from jobq.domain.schedule import Schedule, StoredSchedule, TickRecord
from jobq.domain.states import JobState
from jobq.domain.tokens import ApiToken
from jobq.domain.workflows import WorkflowRecord, WorkflowView
from jobq.store.claim import ClaimRequest
from jobq.store.records import Completion, Expired, Failure, JobFilter, Page


class Enqueuer(Protocol):
    async def enqueue(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        """Store ``jobs`` in one durable transaction: all or none. A job whose idempotency key
        names a job already comes back as that job (``created`` False); ``IdempotencyConflict``
        if it asks for another type, queue or payload."""
        ...


class TransactionalEnqueuer(Protocol):
    async def enqueue_in(self, connection: object, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        """Store ``jobs`` inside the open transaction of the caller's own ``connection``: they
        exist, and workers hear of them, only if it commits."""
        ...


class Claims(Protocol):
    async def claim(self, request: ClaimRequest) -> list[Job]:
        """Atomically take up to ``request.limit`` jobs that may be claimed
        (``store/claim.py``), in claim order; each gets a lease and its next attempt."""
        ...

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        """Extend the leases still owned; return the ids of those jobs."""
        ...

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        """Hand back claimed jobs no worker started, in one transaction, without using their
        attempts; return the ids of those still held (and now released)."""
        ...

    async def owned(self, owner: PoolId) -> list[Job]:
        """The jobs running under ``owner``'s leases, as a claim returned them, in claim order:
        after a claim whose answer was lost (its connection cut after the commit), what the
        pool was given."""
        ...

    async def cancelled(self, leases: Sequence[Lease]) -> set[JobId]:
        """The jobs of ``leases`` that were cancelled while they ran under them (their runs are
        to stop; ``Admin.cancel`` recorded their attempts)."""
        ...


class Outcomes(Protocol):
    """Every write of an attempt's end is fenced by its lease: it changes the job only if the
    lease still owns it, and says whether it did."""

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        """Mark succeeded, in one transaction, each job whose lease in ``completions`` still
        owns it, and record its attempt; return the ids of those jobs. The others (their lease
        was lost) are left as they are."""
        ...

    async def fail(self, failure: Failure) -> bool:
        """Record a failed attempt: due again, or dead. False: the lease was lost."""
        ...

    async def release(self, lease: Lease, *, slot: WorkerId, started_at: datetime) -> bool:
        """Hand back a job whose handler was interrupted (at shutdown): pending again without
        using the attempt, which is recorded as interrupted. False: the lease was lost."""
        ...

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        """Record what the handler holding ``lease`` reports; False if the lease was lost."""
        ...


class Expiry(Protocol):
    async def requeue_expired(self) -> list[Expired]:
        """Give jobs whose lease ran out another attempt, or make them dead (``worker_lost``)."""
        ...


class Presence(Protocol):
    async def report(self, info: ProcessInfo) -> None:
        """Record (or refresh) a running worker pool; forget pools silent for an hour."""
        ...

    async def forget(self, pool: PoolId) -> None:
        """A pool stopped: remove its record."""
        ...


#: what ``Listener.listen`` passes to ``wake`` when a running job was cancelled (no queue may
#: be called so): each pool asks ``Claims.cancelled`` which of its runs to stop
RUN_CANCELLED = "!cancelled"


class Listener(Protocol):
    """Tells a worker pool at once when jobs may have become due: PostgreSQL through
    LISTEN/NOTIFY, SQLite by watching for commits of other processes. Pools poll as well, in
    case a wake-up is missed."""

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` whenever jobs of ``queue`` may have become due (``None``: of
        any queue), and ``wake(RUN_CANCELLED)`` when a running job was cancelled, until
        cancelled. Never returns on its own: a lost connection is made
        again."""
        ...


class Reads(Protocol):
    async def get(self, job_id: JobId) -> Job | None: ...

    async def attempts(self, job_id: JobId) -> list[Attempt]:
        """Every attempt of the job, oldest first, the one running now included."""
        ...

    async def list_jobs(self, where: JobFilter, *, limit: int, after: JobId | None = None) -> Page:
        """Jobs newest first; ``after`` is the ``next_after`` of the page before."""
        ...

    async def counts(self) -> list[QueueCount]: ...

    async def processes(self, *, max_age: float) -> list[ProcessInfo]:
        """Worker pools that reported themselves in the last ``max_age`` seconds."""
        ...

    async def throughput(self, *, minutes: int) -> list[MinuteCount]:
        """Attempts that ended in each of the last ``minutes`` minutes, by outcome (minutes
        with none are left out)."""
        ...

    async def oldest_waiting_age(self) -> float | None:
        """Seconds since the longest-waiting due job became due; None if none is waiting."""
        ...

    async def waiting(self) -> list[WaitingCount]:
        """Due jobs that wait for a worker, by queue and type."""
        ...


class Admin(Protocol):
    async def cancel(self, job_id: JobId, *, only_from: JobState | None = None) -> Job:
        """Cancel a pending, failed or running job (``only_from``: only if it is in that state
        now, else ``IllegalTransition``). A running one's attempt is recorded as
        ``cancelled`` (the lease's owner and attempt stay on the job, so that its pool finds
        it: ``Claims.cancelled``) and its pool is told at once (``RUN_CANCELLED``); the run's
        own writes are refused from here on, by the fence. Raises ``JobNotFound`` or
        ``IllegalTransition``."""
        ...

    async def retry(self, job_id: JobId) -> Job:
        """Make a dead or cancelled job pending again, with at least one attempt left."""
        ...


class Tokens(Protocol):
    """API tokens (schema 3). Only the hash of a token's secret is stored."""

    async def add(self, token: ApiToken) -> None: ...

    async def all(self) -> list[ApiToken]:
        """Every token, revoked ones too, newest first."""
        ...

    async def get(self, token_id: str) -> ApiToken | None: ...

    async def revoke(self, token_id: str) -> bool:
        """Revoke an active token; False if no active token has that id."""
        ...

    async def exist(self) -> bool:
        """Whether any token was ever made (then every API route but /health needs one).
        Revoked tokens count: revoking the last token locks the API, it does not open it."""
        ...


class Ticks(Protocol):
    """The ticks of periodic jobs: each tick's job is made once, whichever process asks."""

    async def fire(
        self, schedule: str, tick: datetime, job: NewJob, *, version: datetime | None = None
    ) -> EnqueueResult | None:
        """Enqueue ``job`` as the job of ``schedule``'s ``tick`` and record the tick, in one
        transaction, if no later or equal tick of ``schedule`` is recorded, it is not paused,
        and (``version``: a stored schedule's) the stored schedule is still at that version;
        None (and nothing written) otherwise: another process made this tick's job, or a
        later one's, or this definition was changed or removed since it was read."""
        ...

    async def last(self) -> dict[str, TickRecord]:
        """Every schedule's latest tick recorded, by schedule name."""
        ...

    async def set_paused(self, schedule: str, paused: bool) -> None:
        """Pause ``schedule`` (no process makes a job for its ticks) or resume it; either way
        its ticks up to now are passed over: resuming makes no job for the pause's ticks."""
        ...

    async def forget(self, schedule: str) -> bool:
        """Drop ``schedule``'s record (its next tick counts as its first); False if none."""
        ...


class StoredSchedules(Protocol):
    """Schedules made at run time (the API, the CLI, the dashboard), kept in the store so
    every process fires them."""

    async def add(self, schedule: Schedule, *, paused: bool = False) -> StoredSchedule:
        """Keep ``schedule`` (paused, if asked, in the same transaction) with a fresh record of
        its ticks; ``ScheduleConflict`` if a stored one has its name."""
        ...

    async def replace(self, schedule: Schedule) -> StoredSchedule | None:
        """Change the stored schedule of ``schedule``'s name to it; None if there is none."""
        ...

    async def all(self) -> list[StoredSchedule]:
        """Every stored schedule, by name."""
        ...

    async def get(self, name: str) -> StoredSchedule | None: ...

    async def remove(self, name: str) -> bool:
        """Delete the schedule and its ticks' record; False if there was none. Its jobs stay."""
        ...


class Retention(Protocol):
    """Deleting finished jobs whose time is up, in small batches; and the job types' own
    retention, as the processes that run them declared it."""

    async def finished_types(self, state: JobState) -> list[str]:
        """The types of the jobs finished in ``state``, in name order (one index step each)."""
        ...

    async def prune(
        self, state: JobState, job_type: str, older_than: float, *, limit: int
    ) -> dict[str, int]:
        """Delete, with their attempts, up to ``limit`` jobs of ``job_type`` that finished in
        ``state`` more than ``older_than`` seconds ago, oldest first, in one short
        transaction; return how many, by queue. A job that left ``state`` meanwhile (an
        operator's retry) is kept."""
        ...

    async def count_prunable(self, state: JobState, job_type: str, older_than: float) -> int:
        """How many jobs ``prune`` would delete, given no limit."""
        ...

    async def publish(
        self, handled: Collection[str], own: Mapping[str, Mapping[JobState, Keep]]
    ) -> None:
        """Record the retention of the types this process has handlers for: ``own`` for those
        that declare one, none (the settings) for the rest of ``handled``."""
        ...

    async def declared(self) -> dict[str, dict[JobState, Keep]]:
        """Every type's own retention, as last published."""
        ...


class QueueControl(Protocol):
    """Pausing and resuming queues. The claims read the pauses themselves (``claim.py``): a
    claim that starts after ``pause`` returns takes no job of the queue."""

    async def pause(self, queue: str, *, until: datetime | None) -> QueuePause:
        """Pause ``queue`` (again: the new ``until`` replaces the old; the first time paused is
        kept) until ``until`` (None: until resumed)."""
        ...

    async def resume(self, queue: str) -> bool:
        """Lift ``queue``'s pause and wake the pools; False if no pause held."""
        ...

    async def pauses(self) -> list[QueuePause]:
        """The pauses that hold now, by queue name."""
        ...


class LimitControl(Protocol):
    """Concurrency limits and rates of job types and queues (``domain/limits.py``). The claims
    read them themselves (``store/limits.py``)."""

    async def limits(self) -> list[ScopeLimits]:
        """Every scope with a limit in code or a setting, by scope and name."""
        ...

    async def set(self, scope: LimitScope, name: str, limits: Limits) -> ScopeLimits:
        """Set ``name``'s limits at run time (they win over the code's; empty ``limits``: no
        limit, whatever the code says); return the scope's limits now."""
        ...

    async def clear(self, scope: LimitScope, name: str) -> bool:
        """Drop the run-time setting of ``name`` (the code's limits hold again); False if
        there was none."""
        ...

    async def publish(self, handled: Collection[str], own: Mapping[str, Limits]) -> None:
        """Record the limits the code of this process declares: ``own`` for the types that
        declare one, none for the rest of ``handled``."""
        ...

    async def running(self) -> list[tuple[str, str, int]]:
        """Running jobs: (type, queue, how many)."""
        ...


class TypeCatalog(Protocol):
    """The job types each worker process runs, as it published them (``domain/published.py``):
    their schemas and options, for processes that do not have their code."""

    async def publish(self, pool: PoolId, types: Sequence[TypeSpec]) -> None:
        """Record the types ``pool`` runs, replacing what it published before; forget what
        pools no longer in ``processes`` published."""
        ...

    async def withdraw(self, pool: PoolId) -> None:
        """``pool`` stopped: remove what it published."""
        ...

    async def published(self, *, max_age: float) -> list[PublishedType]:
        """What the pools heard from within ``max_age`` seconds published, by type and pool."""
        ...


class Dependencies(Protocol):
    """Jobs that wait for other jobs (``domain/workflows.py``): stored with their edges, and
    released or cancelled by the store as the jobs they wait for end (schema 12)."""

    async def add(
        self,
        jobs: Sequence[NewJob],
        ids: Sequence[JobId],
        workflow: WorkflowRecord | None = None,
    ) -> list[Job]:
        """Store ``jobs`` under ``ids`` in one transaction, each ``waiting`` for its
        ``depends_on`` (jobs stored before, or earlier in ``jobs``) that have not ended; in
        ``workflow`` if given. ``InvalidJob`` if a dependency names no job (nothing stored)."""
        ...

    async def workflow(self, workflow_id: str) -> WorkflowView | None: ...

    async def parents(self, job_id: JobId) -> list[Job]:
        """The jobs ``job_id`` depends on, by id."""
        ...


class PoolStore(Protocol):
    """What a worker pool uses."""

    @property
    def claims(self) -> Claims: ...

    @property
    def outcomes(self) -> Outcomes: ...

    @property
    def expiry(self) -> Expiry: ...

    @property
    def presence(self) -> Presence: ...

    @property
    def listener(self) -> Listener: ...

    @property
    def ticks(self) -> Ticks: ...

    @property
    def schedules(self) -> StoredSchedules: ...

    @property
    def retention(self) -> Retention: ...

    @property
    def limit_control(self) -> LimitControl: ...

    @property
    def type_catalog(self) -> TypeCatalog: ...

    @property
    def dependencies(self) -> Dependencies: ...


class Store(PoolStore, Protocol):
    """A backend: its capabilities, and its life."""

    @property
    def description(self) -> str:
        """Which database: "SQLite file jobq.db", "PostgreSQL schema public"."""
        ...

    @property
    def schema_version(self) -> int: ...

    @property
    def enqueuer(self) -> Enqueuer: ...

    @property
    def transactional(self) -> TransactionalEnqueuer | None: ...

    @property
    def reads(self) -> Reads: ...

    @property
    def admin(self) -> Admin: ...

    @property
    def tokens(self) -> Tokens: ...

    @property
    def queue_control(self) -> QueueControl: ...

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
        ...

    async def close(self) -> None: ...
