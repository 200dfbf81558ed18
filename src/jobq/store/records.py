"""What goes into and comes out of the stores beyond the domain's own records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.job import DeadReason, ErrorInfo, Job, Lease
from jobq.domain.jsonvalues import is_unicode
from jobq.domain.states import JobState


@dataclass(frozen=True, slots=True)
class Expired:
    """A job whose lease ran out, as ``requeue_expired`` left it."""

    job_id: JobId
    owner: PoolId  # the pool whose lease it was
    attempt: int
    status: JobState  # pending again, or dead when that was the last attempt
    queue: str
    type: str


@dataclass(frozen=True, slots=True)
class Completion:
    """A successful attempt to record: the lease it ran under, the worker that ran it, and its
    result, already encoded as JSON (``jobq.domain.jsonvalues.dumps``), so a result that cannot
    be stored fails its own job and no other."""

    lease: Lease
    result: str
    slot: WorkerId
    started_at: datetime


def first_per_job(completions: Sequence[Completion]) -> list[Completion]:
    """``completions`` with one per lease: a run acknowledged twice in a batch ends once, as
    the first acknowledgement says (as two batches in a row would: the second finds it ended).
    Acks of one job under different leases all stay: the fence lets the current one through."""
    first: dict[Lease, Completion] = {}
    for completion in completions:
        first.setdefault(completion.lease, completion)
    return list(first.values())


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    """A failed attempt to record, under the lease it ran under: its job is due again at
    ``retry_at``, or dead when that is None (for ``dead_reason``; by default its attempts are
    used up)."""

    lease: Lease
    error: ErrorInfo
    slot: WorkerId
    started_at: datetime
    retry_at: datetime | None
    dead_reason: DeadReason | None = None


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

    @property
    def matches_nothing(self) -> bool:
        """A name no stored job can have: not valid Unicode (a command-line argument that is not
        UTF-8), which no store can take as a parameter either."""
        return any(name is not None and not is_unicode(name) for name in (self.type, self.queue))


@dataclass(frozen=True, slots=True)
class Page:
    jobs: list[Job]
    #: pass back as ``after`` for the next page; None on the last page
    next_after: JobId | None

    @classmethod
    def of(cls, rows: list[Job], limit: int) -> Page:
        """The page from ``rows``, read with ``limit + 1`` so that one more says a next exists."""
        if len(rows) > limit:
            return cls(rows[:limit], rows[limit - 1].id)
        return cls(rows, None)
