"""What a claim may take: one description that both stores render into their claim statement,
so that "each job is claimed once, and only when it may run" is stated in one place while the
claim grows.

A job may be claimed when
  - its state allows the CLAIM event (``domain/states.py``: pending or failed),
  - it is due (``run_at`` has come),
  - its queue is one the pool works (or the pool works every queue), and is not paused
    (``queue_pauses``: a pause that holds at the claim's time), and
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

Paused queues: a claim that covers one is rewritten (``around_pauses``) to name the queues it
may take from, and, when it claims by type, to take an arm per (type, queue) pair on the
``jobs_type_queue_due`` index: a paused queue's backlog is never walked, however long it grows
(past ``MAX_PAIR_ARMS`` pairs the type arms filter by queue instead, and do walk it). SQLite
reads the pauses under the claim's write lock, so the rewrite is exact; PostgreSQL's pools
read them at most a second old, and the statement checks them itself as well.

Limits (``store/limits.py``): a claim that a concurrency limit or a rate applies to counts
what is in use, leaves out the types and queues that are full (as it leaves out a paused
queue), reads candidates with the statement's own condition, and takes those the limits allow.

A new condition (job types, paused queues, limits, dependencies) is a field of
``ClaimRequest``, a part of ``ClaimShape`` if it changes the statement's text, and a line in
``claim_condition``; each store's statement picks it up from there.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
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
    #: (type, queue) pairs to take jobs of, an arm each (``around_pauses`` sets them); None:
    #: by ``types`` and ``queues``
    pairs: tuple[tuple[str, str], ...] | None = None
    #: queues to leave out, by name (``around_pauses``: paused ones, where pairs would be too
    #: many); None: none
    skip: tuple[str, ...] | None = None
    #: types to leave out, by name, where the claim takes any type (a limited claim: the types
    #: at their limit); None: none
    skip_types: tuple[str, ...] | None = None

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
            or (self.pairs is not None and not self.pairs)
        )

    @property
    def shape(self) -> ClaimShape:
        return ClaimShape(
            queue_count=None if self.queues is None else len(self.queues),
            type_count=None if self.types is None else len(self.types),
            pair_count=None if self.pairs is None else len(self.pairs),
            skip_count=None if self.skip is None else len(self.skip),
            skip_type_count=None if self.skip_types is None else len(self.skip_types),
        )


class ClaimShape(NamedTuple):
    """What of a request changes the claim statement's text (stores cache one per shape)."""

    queue_count: int | None
    type_count: int | None = None
    pair_count: int | None = None
    skip_count: int | None = None
    skip_type_count: int | None = None


class Dialect(Protocol):
    """How a store writes the parts of a claim condition."""

    @property
    def now(self) -> str:
        """The time of the claim, as an SQL expression."""
        ...

    @property
    def paused(self) -> str | None:
        """The queues paused at the claim's time, as an SQL subquery; None: the claim has been
        rewritten around the pauses under the same lock (``around_pauses``), and need not
        check them again."""
        ...

    def member(self, column: str, name: str, count: int) -> str:
        """``column`` is one of ``count`` values bound under ``name``."""
        ...

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        """The parameters ``member`` binds for ``values``."""
        ...

    def single(self, name: str) -> str:
        """The parameter ``member`` binds under ``name`` for one value."""
        ...


def claim_condition(shape: ClaimShape, dialect: Dialect) -> str:
    """The ``WHERE`` condition of jobs a claim of ``shape`` may take, but for the type: each
    arm of ``type_arms`` adds its own."""
    conditions = [f"status IN {CLAIMABLE}", f"run_at <= {dialect.now}"]
    if shape.queue_count is not None and shape.pair_count is None:  # a pair names its queue
        conditions.append(dialect.member("queue", "queue", shape.queue_count))
    if shape.skip_count:
        conditions.append(f"NOT ({dialect.member('queue', 'skip', shape.skip_count)})")
    if shape.skip_type_count:
        conditions.append(f"NOT ({dialect.member('type', 'skip_type', shape.skip_type_count)})")
    if dialect.paused is not None:
        if shape.queue_count == 1 and shape.pair_count is None:
            # on the parameter, not the row: checked once, before the walk
            conditions.append(f"{dialect.single('queue')} NOT IN ({dialect.paused})")
        else:
            conditions.append(f"queue NOT IN ({dialect.paused})")
    return " AND ".join(conditions)


#: more (type, queue) pairs than this are not claimed an arm each (``around_pauses``)
MAX_PAIR_ARMS = 100


def around_pauses(
    request: ClaimRequest, paused: Collection[str], waiting: Callable[[], Sequence[str]]
) -> ClaimRequest:
    """``request`` rewritten to take nothing of the ``paused`` queues, and to walk none of
    their jobs: the queues it may take from named (``waiting``: the queues that have jobs
    waiting, asked only for a claim of every queue), and by type an arm per (type, queue).
    Past ``MAX_PAIR_ARMS`` pairs (or for a claim of any type), a claim of every queue leaves the
    paused ones out by name instead, and does walk their jobs."""
    if not paused:
        return request
    if request.queues is not None:
        queues = tuple(queue for queue in request.queues if queue not in paused)
        if len(queues) == len(request.queues):
            return request
    else:
        queues = tuple(queue for queue in waiting() if queue not in paused)
    few = request.types is not None and len(queues) * len(request.types) <= MAX_PAIR_ARMS
    if not queues or (request.queues is not None and not few):
        return replace(request, queues=queues)  # the pool's own few queues, or none
    if not few or request.types is None:  # every queue but the paused ones, filtered
        return replace(request, skip=tuple(sorted(paused)))
    pairs = tuple((job_type, queue) for job_type in request.types for queue in queues)
    return replace(request, queues=queues, pairs=pairs)


def pair_arms(request: ClaimRequest) -> dict[str, str]:
    """The parameters of one arm per pair, ``pair_type0``, ``pair_queue0``...: a store that
    writes an arm per pair binds these (PostgreSQL binds two arrays instead)."""
    params: dict[str, str] = {}
    for i, (job_type, queue) in enumerate(request.pairs or ()):
        params[f"pair_type{i}"] = job_type
        params[f"pair_queue{i}"] = queue
    return params


def claim_params(request: ClaimRequest, dialect: Dialect) -> dict[str, Any]:
    """The parameters ``claim_condition`` binds for ``request``."""
    params: dict[str, Any] = {}
    if request.queues is not None:
        params.update(dialect.member_params("queue", request.queues))
    if request.skip:
        params.update(dialect.member_params("skip", request.skip))
    if request.skip_types:
        params.update(dialect.member_params("skip_type", request.skip_types))
    return params


def type_arms(request: ClaimRequest) -> dict[str, str]:
    """The parameters of one arm per type, ``type0``, ``type1``...: a store that writes an arm
    per type binds these (PostgreSQL binds the list as one array instead)."""
    return {f"type{i}": name for i, name in enumerate(request.types or ())}


class Claimed(list[Job]):
    """The jobs a claim took, in claim order; ``held_back``: a limit kept it from taking all it
    could (its pool claims again when one of its own jobs ends, not only at the next poll);
    ``room_at``: when a rate that held it back has room again (its window's end), if one did."""

    held_back: bool = False
    room_at: datetime | None = None

    @classmethod
    def of(cls, jobs: list[Job], *, held_back: bool, room_at: datetime | None = None) -> Claimed:
        claimed = cls(in_claim_order(jobs))
        claimed.held_back = held_back
        claimed.room_at = room_at
        return claimed


def in_claim_order(jobs: list[Job]) -> list[Job]:
    """``jobs`` sorted as ``CLAIM_ORDER`` (``RETURNING`` gives rows in no promised order)."""
    jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
    return jobs
