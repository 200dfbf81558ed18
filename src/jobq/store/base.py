"""The store seams. ``JobStore`` is what workers need; ``JobReader`` and ``JobAdmin`` serve the
API, the CLI and the dashboard. ``Store`` is all three: what a backend implements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import (
    Attempt,
    DeadReason,
    EnqueueResult,
    ErrorInfo,
    Job,
    JSONValue,
    Lease,
    MinuteCount,
    NewJob,
    ProcessInfo,
    QueueCount,
)
from jobq.domain.states import JobState
from jobq.domain.tokens import ApiToken


@dataclass(frozen=True, slots=True)
class Expired:
    """A job whose lease ran out, as ``requeue_expired`` left it."""

    job_id: JobId
    worker_id: WorkerId
    attempt: int
    status: JobState  # pending again, or dead when that was the last attempt
    queue: str
    type: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful attempt to record: the lease it ran under and its result, already encoded
    as JSON (``jobq.store.codec.dumps``), so a result that cannot be stored fails its own job
    and no other."""

    lease: Lease
    result: str
    worker_id: WorkerId
    started_at: datetime


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """How far a database's schema has come."""

    store: str  # which database: "SQLite file jobq.db", "PostgreSQL schema public"
    current: int  # 0: no jobq tables yet
    latest: int  # the newest version this jobq ships

    @property
    def behind(self) -> bool:
        return self.current < self.latest


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFilter:
    status: JobState | None = None
    type: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    #: pass back as ``after`` for the next page; None on the last page
    next_after: JobId | None


class JobStore(Protocol):
    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[EnqueueResult]:
        """Store ``jobs`` in one durable transaction: all or none. ``connection``: a database
        connection of the caller's whose transaction the jobs join (PostgreSQL only)."""
        ...

    async def claim(
        self, owner: WorkerId, *, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        """Atomically take up to ``limit`` due jobs (all queues when ``queues`` is None), by
        priority (highest first), then run_at, then id; each gets a lease and its next attempt."""
        ...

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        """Extend the leases still owned; return the ids of those jobs."""
        ...

    async def complete(
        self, lease: Lease, result: JSONValue, *, worker_id: WorkerId, started_at: datetime
    ) -> bool:
        """Mark succeeded if ``lease`` still owns the job; False means the lease was lost."""
        ...

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        """Mark succeeded, in one transaction, each job whose lease in ``completions`` still
        owns it, and record its attempt; return the ids of those jobs. The others (their lease
        was lost) are left as they are. How workers acknowledge in batches."""
        ...

    async def fail(
        self,
        lease: Lease,
        error: ErrorInfo,
        *,
        worker_id: WorkerId,
        started_at: datetime,
        retry_at: datetime | None,
        dead_reason: DeadReason | None = None,
    ) -> bool:
        """Record a failed attempt: due again at ``retry_at``, or dead when it is None.
        False means the lease was lost."""
        ...

    async def release(self, lease: Lease, *, worker_id: WorkerId, started_at: datetime) -> bool:
        """Hand back a job whose handler was interrupted (at shutdown): pending again without
        using the attempt, which is recorded as interrupted. False means the lease was lost.
        Jobs no worker started go back through ``release_unstarted``."""
        ...

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        """Hand back claimed jobs no worker started, in one transaction, without using their
        attempts; return the ids of those still held (and now released)."""
        ...

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        """Record what the handler holding ``lease`` reports; False if the lease was lost."""
        ...

    async def report_process(self, info: ProcessInfo) -> None:
        """Record (or refresh) a running worker pool; forget pools silent for an hour."""
        ...

    async def forget_process(self, process_id: WorkerId) -> None:
        """A pool stopped: remove its record."""
        ...

    async def requeue_expired(self) -> list[Expired]:
        """Give jobs whose lease ran out another attempt, or make them dead (``worker_lost``)."""
        ...

    async def ping(self) -> None:
        """Raise ``StoreError`` unless the store answers."""
        ...

    async def close(self) -> None: ...


class JobReader(Protocol):
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


class JobAdmin(Protocol):
    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a pending or failed job. Raises ``JobNotFound`` or ``IllegalTransition``."""
        ...

    async def retry(self, job_id: JobId) -> Job:
        """Make a dead or cancelled job pending again, with at least one attempt left."""
        ...


@runtime_checkable
class Listens(Protocol):
    """A store that can tell a worker pool at once when jobs may have become due: PostgreSQL
    through LISTEN/NOTIFY, SQLite by watching for commits of other processes. Pools poll as
    well, in case a wake-up is missed."""

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` whenever jobs of ``queue`` may have become due (``None``: of
        any queue), until cancelled. Never returns on its own: a lost connection is made
        again."""
        ...


class TokenStore(Protocol):
    """API tokens (schema 3). Only the hash of a token's secret is stored."""

    async def add_token(self, token: ApiToken) -> None: ...

    async def tokens(self) -> list[ApiToken]:
        """Every token, revoked ones too, newest first."""
        ...

    async def token(self, token_id: str) -> ApiToken | None: ...

    async def revoke_token(self, token_id: str) -> bool:
        """Revoke an active token; False if no active token has that id."""
        ...

    async def has_tokens(self) -> bool:
        """Whether any token was ever made (then every API route but /health needs one).
        Revoked tokens count: revoking the last token locks the API, it does not open it."""
        ...


class Store(JobStore, JobReader, JobAdmin, TokenStore, Protocol):
    """A complete backend."""
