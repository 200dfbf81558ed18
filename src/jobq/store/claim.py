"""What a claim may take: one description that both stores render into their claim statement,
so that "each job is claimed once, and only when it may run" is stated in one place while the
claim grows.

A job may be claimed when
  - its state allows the CLAIM event (``domain/states.py``: pending or failed),
  - it is due (``run_at`` has come),
  - its queue is one the pool works (or the pool works every queue), and
  - its type is one the pool has a handler for (or the claim takes any type).
Jobs that may be claimed are taken in ``CLAIM_ORDER``: highest priority first, then the
earliest ``run_at``, then the lowest id. A store takes them and marks them running, under the
claimer's lease, in one statement (SQLite: under the write lock; PostgreSQL: ``FOR UPDATE SKIP
LOCKED``), which is what makes a claim atomic.

Types are taken one arm per type (``type_arms``): each arm walks the ``jobs_type_due`` index of
its own type in claim order and stops after ``limit`` rows, and the statement keeps the first
``limit`` of all arms in claim order. A type the pool cannot run is never read, however many
jobs of it wait. (On PostgreSQL each arm locks what it reads, so when several of a pool's types
have jobs due, rows past the ``limit`` it keeps stay locked until the claim commits; another
claimer passes over them meanwhile, as over any row a claim holds.)

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


def claim_order(alias: str) -> str:
    """``CLAIM_ORDER`` over the columns of ``alias``: "alias.priority DESC, alias.run_at, ..."."""
    return ", ".join(f"{alias}.{term.strip()}" for term in CLAIM_ORDER.split(","))


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimRequest:
    """Take up to ``limit`` jobs for the pool ``owner``, each under a lease of
    ``lease_seconds``."""

    owner: PoolId
    limit: int
    lease_seconds: float
    #: the queues the pool works; None: every queue
    queues: tuple[str, ...] | None = None
    #: the job types the pool has handlers for; None: any type
    types: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # any sequence: a tuple, as the shape counts it
        if self.queues is not None:
            object.__setattr__(self, "queues", tuple(self.queues))
        if self.types is not None:
            object.__setattr__(self, "types", tuple(self.types))

    @property
    def takes_nothing(self) -> bool:
        return (
            self.limit <= 0
            or (self.queues is not None and not self.queues)
            or (self.types is not None and not self.types)
        )

    @property
    def shape(self) -> ClaimShape:
        return ClaimShape(
            queue_count=None if self.queues is None else len(self.queues),
            type_count=None if self.types is None else len(self.types),
        )


class ClaimShape(NamedTuple):
    """What of a request changes the claim statement's text (stores cache one per shape)."""

    queue_count: int | None
    type_count: int | None = None


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
    """The ``WHERE`` condition of jobs a claim of ``shape`` may take, but for the type: each
    arm of ``type_arms`` adds its own."""
    conditions = [f"status IN {CLAIMABLE}", f"run_at <= {dialect.now}"]
    if shape.queue_count is not None:
        conditions.append(dialect.member("queue", "queue", shape.queue_count))
    return " AND ".join(conditions)


def claim_params(request: ClaimRequest, dialect: Dialect) -> dict[str, Any]:
    """The parameters ``claim_condition`` binds for ``request``."""
    if request.queues is None:
        return {}
    return dialect.member_params("queue", request.queues)


def type_arms(request: ClaimRequest) -> dict[str, str]:
    """The parameters of one arm per type, ``type0``, ``type1``...: a store that writes an arm
    per type binds these (PostgreSQL binds the list as one array instead)."""
    return {f"type{i}": name for i, name in enumerate(request.types or ())}


def in_claim_order(jobs: list[Job]) -> list[Job]:
    """``jobs`` sorted as ``CLAIM_ORDER`` (``RETURNING`` gives rows in no promised order)."""
    jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
    return jobs
