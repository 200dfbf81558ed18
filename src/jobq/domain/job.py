"""Job records. Frozen and slotted: change them with ``dataclasses.replace``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeAlias

from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.states import JobState

JSONValue: TypeAlias = Any
"""Anything ``json.dumps(..., allow_nan=False)`` accepts."""

DEFAULT_QUEUE = "default"
PRIORITY_MIN, PRIORITY_MAX = -32768, 32767
DEFAULT_MAX_ATTEMPTS = 3
MAX_ATTEMPTS_LIMIT = 1000
MAX_IDEMPOTENCY_KEY = 255  # characters
MAX_DELAY = 10 * 365 * 86400.0  # seconds: ten years


class DeadReason(StrEnum):
    #: every allowed attempt failed
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    #: the handler raised an error that must not be retried
    NON_RETRYABLE = "non_retryable"
    #: the worker holding the last attempt vanished (its lease expired)
    WORKER_LOST = "worker_lost"
    #: no worker that claimed it has a handler for its type
    UNKNOWN_TYPE = "unknown_type"
    #: (cancelled) a job it depended on ended dead or cancelled
    DEPENDENCY_FAILED = "dependency_failed"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: the lease expired: the worker died or stalled
    LOST = "lost"
    #: handed back at shutdown before it finished; the attempt was given back
    INTERRUPTED = "interrupted"
    #: cancelled while it ran: the run was stopped, and no retry follows
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    type: str
    message: str
    traceback: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True, kw_only=True)
class Backoff:
    """Retry delay after attempt n: ``min(max_seconds, base_seconds * 2 ** (n - 1))``, jittered."""

    base_seconds: float = 2.0
    max_seconds: float = 600.0
    jitter: bool = True

    def to_dict(self) -> dict[str, float | bool]:
        return {
            "base_seconds": self.base_seconds,
            "max_seconds": self.max_seconds,
            "jitter": self.jitter,
        }


@dataclass(frozen=True, slots=True)
class Lease:
    """The fencing token: every write after a claim carries it and changes the job only if the
    token still owns it."""

    job_id: JobId
    #: the pool that claimed the job
    owner: PoolId
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NewJob:
    """A job as a client asks for it, before the store gives it an id and a state."""

    type: str
    payload: dict[str, JSONValue] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: datetime | None = None  # None: due at once
    max_attempts: int = 3
    timeout: float | None = None  # seconds; None: the type's or the worker's default
    backoff: Backoff | None = None  # None: the type's or the default
    idempotency_key: str | None = None
    #: unique jobs (``domain/unique.py``): the key held while the job is in ``unique_states``
    #: (comma-separated state names); None: not unique
    unique_key: str | None = None
    unique_states: str | None = None
    #: meeting a pending holder of the key gives it this job's payload and run time
    unique_replace: bool = False
    #: the jobs it waits for (``waiting`` until every one has succeeded): ids of stored jobs
    depends_on: tuple[JobId, ...] = ()
    #: what a dependency that ends dead or cancelled does to it: ``cancel`` it (the default),
    #: or ``run`` it all the same once every dependency has ended
    on_dependency_failure: str = "cancel"
    #: the workflow it is stored in (``Dependencies.add`` sets it)
    workflow_id: str | None = None

    def differences(self, existing: Job) -> list[str]:
        """The fields in which ``existing`` (found by this job's idempotency key) is another
        request: a repeat must ask for the same type, queue and payload."""
        return [
            name
            for name, mine, theirs in (
                ("type", self.type, existing.type),
                ("queue", self.queue, existing.queue),
                ("payload", self.payload, existing.payload),
            )
            if mine != theirs
        ]

    def stored(
        self,
        job_id: JobId,
        *,
        payload: dict[str, JSONValue],
        run_at: datetime,
        created_at: datetime,
    ) -> Job:
        """This job as the store has just written it (pending, not yet attempted), so a store
        need not read back what it was given. ``payload``: as stored (decoded from its JSON)."""
        return Job(
            id=job_id,
            queue=self.queue,
            type=self.type,
            payload=payload,
            status=JobState.PENDING,
            priority=self.priority,
            run_at=run_at,
            attempt=0,
            max_attempts=self.max_attempts,
            timeout=None if self.timeout is None else float(self.timeout),
            backoff=self.backoff,
            result=None,
            last_error=None,
            dead_reason=None,
            worker_id=None,
            lease_expires_at=None,
            idempotency_key=self.idempotency_key,
            created_at=created_at,
            started_at=None,
            finished_at=None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    id: JobId
    queue: str
    type: str
    payload: dict[str, JSONValue]
    status: JobState
    priority: int
    run_at: datetime
    attempt: int
    max_attempts: int
    timeout: float | None
    backoff: Backoff | None
    result: JSONValue
    last_error: ErrorInfo | None
    dead_reason: DeadReason | None
    #: the pool holding the job's lease while it runs
    worker_id: PoolId | None
    lease_expires_at: datetime | None
    idempotency_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    #: what the handler last reported of its attempt (``ctx.progress``): 0..1 and a message
    progress: float | None = None
    progress_message: str | None = None
    #: the workflow it belongs to (``jq.submit``); None: none
    workflow_id: str | None = None
    #: how many jobs it depends on (their results: ``ctx.dependencies``)
    parents: int = 0

    @property
    def lease(self) -> Lease:
        """The lease this job is held under; only meaningful while it is running."""
        if self.worker_id is None:
            raise ValueError(f"job {self.id} is not held by any worker")
        return Lease(self.id, self.worker_id, self.attempt)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    job_id: JobId
    attempt: int
    #: the worker that ran it (for an attempt lost or still running: its pool)
    worker_id: WorkerId | None
    started_at: datetime | None
    finished_at: datetime | None
    outcome: Outcome | None  # None: still running
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    job: Job
    #: False when the idempotency key already named a job, or a unique job held the key;
    #: ``job`` is then that job
    created: bool
    #: not created because a unique job (``job``) holds the key
    unique_hit: bool = False


@dataclass(frozen=True, slots=True)
class QueueCount:
    queue: str
    status: JobState
    count: int


def counts_by_queue(counts: Iterable[QueueCount]) -> dict[str, dict[str, int]]:
    """queue -> status -> jobs, every status present (zero where there are none)."""
    table: dict[str, dict[JobState, int]] = {}
    for row in counts:
        table.setdefault(row.queue, dict.fromkeys(JobState, 0))[row.status] = row.count
    return {queue: {state.value: n for state, n in row.items()} for queue, row in table.items()}


MAX_PROGRESS_MESSAGE = 500

#: what a store records for an attempt whose lease ran out
WORKER_LOST_ERROR = ErrorInfo(
    type="WorkerLost",
    message="the worker's lease expired before the attempt finished "
    "(the worker process died, stalled, or lost its store connection)",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessInfo:
    """A process running a worker pool, as it last reported itself."""

    id: PoolId
    host: str
    pid: int
    workers: int
    busy: int
    buffered: int
    queues: tuple[str, ...] | None
    started_at: datetime
    seen_at: datetime
    #: the job types it has handlers for (and claims); None: not reported (a jobq before
    #: schema 4, which claimed every type)
    types: tuple[str, ...] | None = None

    def runs(self, queue: str, job_type: str) -> bool:
        """Whether this pool claims jobs of ``job_type`` in ``queue``."""
        return (self.queues is None or queue in self.queues) and (
            self.types is None or job_type in self.types
        )


@dataclass(frozen=True, slots=True)
class WaitingCount:
    """Due jobs of one queue and type that wait for a worker."""

    queue: str
    type: str
    count: int
    #: when the longest-waiting of them became due
    since: datetime


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Attempts that ended in one minute, by outcome."""

    minute: datetime  # the minute's start, UTC
    outcome: Outcome
    count: int
