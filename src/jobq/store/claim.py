"""What a claim may take: one description that both stores render into their claim statement,
so that "each job is claimed once, and only when it may run" is stated in one place while the
claim grows.

A job may be claimed when
  - its state allows the CLAIM event (``domain/states.py``: pending or failed),
  - it is due (``run_at`` has come), and
  - its queue is one the pool works (or the pool works every queue).
Jobs that may be claimed are taken in ``CLAIM_ORDER``: highest priority first, then the
earliest ``run_at``, then the lowest id. A store takes them and marks them running, under the
claimer's lease, in one statement (SQLite: under the write lock; PostgreSQL: ``FOR UPDATE SKIP
LOCKED``), which is what makes a claim atomic.

A new condition (job types, paused queues, limits, dependencies) is a field of
``ClaimRequest``, a part of ``ClaimShape`` if it changes the statement's text, and a line in
``claim_condition``; each store's statement picks it up from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from jobq.domain.ids import PoolId
from jobq.domain.job import Job
from jobq.domain.states import Event, sources, sql_in

#: the order jobs are claimed in, as SQL over the jobs table
CLAIM_ORDER = "priority DESC, run_at, id"
#: the states a job may be claimed from: "('failed', 'pending')", as in the partial indexes
CLAIMABLE = sql_in(sources(Event.CLAIM))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """Take up to ``limit`` jobs for the pool ``owner``, each under a lease of
    ``lease_seconds``."""

    owner: PoolId
    limit: int
    lease_seconds: float
    #: the queues the pool works; None: every queue
    queues: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.queues is not None:  # any sequence: a tuple, as the shape counts it
            object.__setattr__(self, "queues", tuple(self.queues))

    @property
    def takes_nothing(self) -> bool:
        return self.limit <= 0 or (self.queues is not None and not self.queues)

    @property
    def shape(self) -> ClaimShape:
        return ClaimShape(queue_count=None if self.queues is None else len(self.queues))


class ClaimShape(NamedTuple):
    """What of a request changes the claim statement's text (stores cache one per shape)."""

    queue_count: int | None


class Dialect(Protocol):
    """How a store writes the parts of a claim condition."""

    #: the time of the claim, as an SQL expression
    now: str

    def member(self, column: str, name: str, count: int) -> str:
        """``column`` is one of ``count`` values bound under ``name``."""
        ...

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        """The parameters ``member`` binds for ``values``."""
        ...


def claim_condition(shape: ClaimShape, dialect: Dialect) -> str:
    """The ``WHERE`` condition of jobs a claim of ``shape`` may take."""
    conditions = [f"status IN {CLAIMABLE}", f"run_at <= {dialect.now}"]
    if shape.queue_count is not None:
        conditions.append(dialect.member("queue", "queue", shape.queue_count))
    return " AND ".join(conditions)


def claim_params(request: ClaimRequest, dialect: Dialect) -> dict[str, Any]:
    """The parameters ``claim_condition`` binds for ``request``."""
    if request.queues is None:
        return {}
    return dialect.member_params("queue", request.queues)


def in_claim_order(jobs: list[Job]) -> list[Job]:
    """``jobs`` sorted as ``CLAIM_ORDER`` (``RETURNING`` gives rows in no promised order)."""
    jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
    return jobs
