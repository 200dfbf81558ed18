"""Limits where jobs are claimed: what both stores share to take no more jobs than the limits
that apply to a claim allow (``domain/limits.py``), counted across the whole fleet.

A claim that some limit applies to (a type it claims, a queue it works) is a *limited claim*.
The store holds what makes it exact while it runs: SQLite its write lock, PostgreSQL a lock
on the scope's ``limits`` rows (``FOR UPDATE``), so the limited claims of one scope take turns
while everything else goes on. Then, in that transaction:

1. it counts what the limits count: the running jobs of the limited types and queues (a few
   rows of the ``status = 'running'`` index), and the starts of the rates' current windows;
2. a type or queue with no room left is left out of the claim (a full queue is passed over
   like a paused one, ``around_pauses``), so jobs behind it are not held up;
3. it reads candidates as an ordinary claim would (``next_request``: the same arms, in claim
   order, ``depth`` rows), and takes those the limits allow, in claim order (``offer``),
   marking them running;
4. while it has taken fewer than asked and a scope filled up as it went, it reads again
   without that scope (at most one round per limited scope);
5. it adds the starts it made to the rates' windows (``starts``).

A limit counted ``by`` a payload field counts each value apart; when a read finds values that
are full, the claim reads once more, ``PARTITION_DEPTH`` candidates past its demand, to find
values with room: jobs of values with room that wait behind more than that many jobs of full
values wait for those to start.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from jobq.domain.limits import (
    Limit,
    LimitOrigin,
    Limits,
    LimitScope,
    Rate,
    ScopeLimits,
    merge,
)
from jobq.store.claim import ClaimRequest, around_pauses
from jobq.store.common import from_us, to_us

#: candidates a claim reads past its demand when a limit counted by a payload field applies
PARTITION_DEPTH = 1000
#: the columns of ``limits`` a store reads, in the order ``limit_rows`` takes them
LIMIT_COLUMNS = "scope, name, origin, concurrency, concurrency_by, rate, rate_per, rate_by"
#: a count's key: (scope, name, "running" or "starts", partition: "" or the field's value)
Key = tuple[LimitScope, str, str, str]


def stored_limits(row: Sequence[Any]) -> tuple[LimitScope, str, LimitOrigin, Limits]:
    """A ``limits`` row (``LIMIT_COLUMNS``) as what it holds."""
    scope, name, origin, concurrency, concurrency_by, rate, rate_per, rate_by = row
    return (
        LimitScope(scope),
        name,
        LimitOrigin(origin),
        Limits(
            None if concurrency is None else Limit(concurrency, concurrency_by),
            None if rate is None else Rate(rate, rate_per, rate_by),
        ),
    )


def limit_values(limits: Limits) -> dict[str, Any]:
    """The ``limits`` columns that hold ``limits``, by name."""
    concurrency, rate = limits.concurrency, limits.rate
    return {
        "concurrency": None if concurrency is None else concurrency.count,
        "concurrency_by": None if concurrency is None else concurrency.by,
        "rate": None if rate is None else rate.count,
        "rate_per": None if rate is None else rate.per,
        "rate_by": None if rate is None else rate.by,
    }


def window_end(rate: Rate, now_us: int) -> int:
    """The end of ``rate``'s window that holds ``now_us`` (microseconds since the epoch)."""
    per = max(1, round(rate.per * 1_000_000))
    return (now_us // per + 1) * per


def part_of(value: Any) -> str:
    """A partition's name: the JSON of the field's value as text (None: the field is missing
    or null; the jobs without it share one partition)."""
    return json.dumps(None if value is None else str(value))


class ParsedLimits:
    """The stored limits as last parsed: a claim reads the rows of ``limits`` each time (under
    its lock), and they seldom change, so their records are made again only when they do."""

    def __init__(self) -> None:
        self._rows: tuple[tuple[Any, ...], ...] = ()
        self._limits: list[ScopeLimits] = []

    def of(self, rows: Sequence[Sequence[Any]]) -> list[ScopeLimits]:
        key = tuple(tuple(row) for row in rows)
        if key != self._rows:
            self._limits = merge([stored_limits(row) for row in key])
            self._rows = key
        return self._limits


def covers(request: ClaimRequest, scope: LimitScope, name: str) -> bool:
    """Might ``request`` take a job of the type or queue ``name``?"""
    names = request.types if scope is LimitScope.TYPE else request.queues
    return names is None or name in names


def covered_by(request: ClaimRequest, limits: Iterable[ScopeLimits]) -> list[ScopeLimits]:
    """The limits of the types and queues ``request`` might take jobs of."""
    return [held for held in limits if held.effective and covers(request, held.scope, held.name)]


@dataclass(frozen=True, slots=True)
class Applicable:
    """What limits mean for one claim: whether it is a limited claim, and the limited types and
    queues it covers that have no job waiting (an ordinary claim leaves those out instead: a
    job that comes meanwhile waits for a limited claim)."""

    limited: bool
    idle_types: tuple[str, ...] = ()
    idle_queues: tuple[str, ...] = ()

    def ordinary(self, request: ClaimRequest) -> ClaimRequest:
        """``request`` without the idle limited types (the idle queues go with the pauses)."""
        if not self.idle_types:
            return request
        if request.types is None:
            return replace(request, skip_types=self.idle_types)
        return replace(request, types=tuple(t for t in request.types if t not in self.idle_types))


def applicable(
    request: ClaimRequest,
    limits: Iterable[ScopeLimits],
    waiting_types: Callable[[list[str]], Collection[str]],
    waiting_queues: Callable[[], Collection[str]],
) -> Applicable:
    """Which of ``limits`` apply to ``request``. ``waiting_types(names)``: those of the types
    ``names`` that have jobs waiting; ``waiting_queues()``: the queues that have."""
    covered = covered_by(request, limits)
    if not covered:
        return Applicable(False)
    types = [held.name for held in covered if held.scope is LimitScope.TYPE]
    queues = [held.name for held in covered if held.scope is LimitScope.QUEUE]
    busy_types = waiting_types(types) if types else ()
    busy_queues = waiting_queues() if queues else ()
    idle_types = tuple(name for name in types if name not in busy_types)
    idle_queues = tuple(name for name in queues if name not in busy_queues)
    limited = len(idle_types) < len(types) or len(idle_queues) < len(queues)
    return Applicable(limited, idle_types, idle_queues)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A job a limited claim may take: what the limits look at. ``keys``: the value of each
    of the plan's ``fields`` in its payload, as text."""

    id: Any
    type: str
    queue: str
    priority: int
    run_at: Any
    keys: tuple[Any, ...] = ()


def candidate(row: Sequence[Any]) -> Candidate:
    """A candidate from a row of ``id, type, queue, priority, run_at, k0, k1...``."""
    return Candidate(row[0], row[1], row[2], row[3], row[4], tuple(row[5:]))


class LimitPlan:
    """One limited claim of ``request``: the limits that apply to it (of ``limits``, the
    stored ones), what they count, and the jobs taken so far."""

    def __init__(self, request: ClaimRequest, limits: Iterable[ScopeLimits], now: datetime):
        self.request = request
        self.now_us = to_us(now)
        self.applied = {
            (held.scope, held.name): held.effective for held in covered_by(request, limits)
        }
        #: the payload fields the applied limits count by, in the order the candidates'
        #: ``keys`` and the running rows hold them
        self.fields = tuple(
            dict.fromkeys(field for limits in self.applied.values() for field in limits.fields)
        )
        self._in_use: Counter[Key] = Counter()
        #: the candidates chosen so far, in claim order, each with the counts it added to
        self._chosen: dict[Any, list[Key]] = {}
        self._left_out: set[tuple[LimitScope, str]] = set()
        #: a limit kept the claim from taking a job it could have taken
        self.held_back = False
        self._refused_by_value = False  # a job was refused for its value's count
        self._room_at: int | None = None  # µs: when a full rate has room again
        self._deeper = False  # the reads go PARTITION_DEPTH past the demand
        self._done = False

    @classmethod
    def of_rows(
        cls, request: ClaimRequest, rows: Iterable[Sequence[Any]], now: datetime
    ) -> LimitPlan:
        """The plan of ``request`` under the stored ``rows`` of ``limits``."""
        return cls(request, merge([stored_limits(row) for row in rows]), now)

    @property
    def applies(self) -> bool:
        return bool(self.applied)

    def names(self, scope: LimitScope) -> list[str]:
        """The limited types or queues of the claim."""
        return sorted(name for kind, name in self.applied if kind is scope)

    @property
    def rates(self) -> list[tuple[LimitScope, str, Rate]]:
        return [
            (scope, name, limits.rate)
            for (scope, name), limits in self.applied.items()
            if limits.rate is not None
        ]

    def window_end(self, rate: Rate) -> int:
        return window_end(rate, self.now_us)

    # -- what is in use --------------------------------------------------------------------

    def _key(
        self, scope: LimitScope, name: str, kind: str, by: str | None, keys: Sequence[Any]
    ) -> Key:
        part = "" if by is None else part_of(keys[self.fields.index(by)])
        return (scope, name, kind, part)

    def _scopes_of(self, job_type: str, queue: str) -> list[tuple[LimitScope, str, Limits]]:
        found = []
        for scope, name in ((LimitScope.TYPE, job_type), (LimitScope.QUEUE, queue)):
            limits = self.applied.get((scope, name))
            if limits is not None:
                found.append((scope, name, limits))
        return found

    def count_running(self, rows: Iterable[Sequence[Any]]) -> None:
        """The running jobs of the limited scopes: rows of ``type, queue, k0, k1...``."""
        for row in rows:
            job_type, queue, keys = row[0], row[1], tuple(row[2:])
            for scope, name, limits in self._scopes_of(job_type, queue):
                if limits.concurrency is not None:
                    key = self._key(scope, name, "running", limits.concurrency.by, keys)
                    self._in_use[key] += 1

    def count_starts(self, rows: Iterable[Sequence[Any]]) -> None:
        """The starts counted so far: rows of ``scope, name, part, window_end (µs), n``. A row
        of a later window than this claim's (a claim that began later took its turn first)
        leaves no room in this claim's window."""
        for scope, name, part, end, n in rows:
            limits = self.applied.get((LimitScope(scope), name))
            if limits is None or limits.rate is None:
                continue
            mine = self.window_end(limits.rate)
            if end >= mine:
                count = n if end == mine else limits.rate.count
                self._in_use[(LimitScope(scope), name, "starts", part)] = count

    def _room(self, scope: LimitScope, name: str, limits: Limits, keys: Sequence[Any]) -> list[Key]:
        """The counts taking a job of the scope adds to, or [] past a limit."""
        found = []
        if limits.concurrency is not None:
            key = self._key(scope, name, "running", limits.concurrency.by, keys)
            if self._in_use[key] >= limits.concurrency.count:
                return self._refused(key)
            found.append(key)
        if limits.rate is not None:
            key = self._key(scope, name, "starts", limits.rate.by, keys)
            if self._in_use[key] >= limits.rate.count:
                return self._refused(key)
            found.append(key)
        return found

    def _refused(self, key: Key) -> list[Key]:
        self.held_back = True
        if key[3]:  # a value counted apart is full: others may wait deeper down
            self._refused_by_value = True
        self._note_full(key[0], key[1], key[2])
        return []

    def _note_full(self, scope: LimitScope, name: str, kind: str) -> None:
        """A scope's count is full: if it is a rate's, its room comes at its window's end."""
        rate = self.applied[(scope, name)].rate
        if kind == "starts" and rate is not None:
            end = self.window_end(rate)
            self._room_at = end if self._room_at is None else min(self._room_at, end)

    @property
    def room_at(self) -> datetime | None:
        """When a rate that held the claim back has room again (the end of its window)."""
        return None if self._room_at is None else from_us(self._room_at)

    def _full(self) -> set[tuple[LimitScope, str]]:
        """Scopes with no room whatever the payload: a limit not counted by a field is used up."""
        full = set()
        for (scope, name), limits in self.applied.items():
            for limit, kind in ((limits.concurrency, "running"), (limits.rate, "starts")):
                used = self._in_use[(scope, name, kind, "")]
                if limit is not None and limit.by is None and used >= limit.count:
                    full.add((scope, name))
                    self._note_full(scope, name, kind)
        return full

    # -- the rounds ------------------------------------------------------------------------

    def next_request(
        self, paused: Collection[str], waiting: Callable[[], Sequence[str]]
    ) -> ClaimRequest | None:
        """What to read candidates with next (its ``limit``: how many), or None: the claim is
        over. ``paused``, ``waiting``: as ``around_pauses`` takes them."""
        wanted = self.request.limit - self.taken
        if self._done or wanted <= 0:
            return None
        self._left_out = self._full()
        if self._left_out:
            self.held_back = True
        full_types = sorted(name for scope, name in self._left_out if scope is LimitScope.TYPE)
        full_queues = {name for scope, name in self._left_out if scope is LimitScope.QUEUE}
        types, skip_types = self.request.types, None
        if types is not None:
            types = tuple(t for t in types if t not in full_types)
        elif full_types:
            skip_types = tuple(full_types)
        # the jobs chosen so far are read again (they are taken at the end, all at once)
        depth = wanted + self.taken + (PARTITION_DEPTH if self._deeper else 0)
        request = replace(self.request, limit=depth, types=types, skip_types=skip_types)
        request = around_pauses(request, {*paused, *full_queues}, waiting)
        if request.takes_nothing:
            return None
        return request

    @property
    def taken(self) -> int:
        """How many jobs the claim has chosen so far."""
        return len(self._chosen)

    @property
    def chosen(self) -> list[Any]:
        """The ids of the jobs the claim takes, in claim order."""
        return list(self._chosen)

    def offer(self, candidates: list[Candidate], depth: int) -> None:
        """Choose of ``candidates`` (read with a limit of ``depth``) those the limits let the
        claim take, in claim order, and count them."""
        candidates.sort(key=lambda c: (-c.priority, c.run_at, c.id))
        for job in candidates:
            if self.taken == self.request.limit:
                break
            if job.id in self._chosen:
                continue
            counts: list[Key] = []
            for scope, name, limits in self._scopes_of(job.type, job.queue):
                room = self._room(scope, name, limits, job.keys)
                if not room:
                    break
                counts.extend(room)
            else:
                for key in counts:
                    self._in_use[key] += 1
                self._chosen[job.id] = counts
        # another round only if one may find more: the read was not cut short, and a scope
        # filled up that the next read leaves out, or a value counted apart was full (the next
        # read goes PARTITION_DEPTH deeper, once)
        if len(candidates) < depth:
            self._done = True
        elif self._full() - self._left_out:
            pass
        elif self._refused_by_value and not self._deeper:
            self._deeper = True
        else:
            self._done = True

    def starts(self, taken: Collection[Any]) -> list[tuple[str, str, str, int, int]]:
        """The starts of the chosen jobs that were ``taken`` (by id): ``scope, name, part,
        window_end (µs), n`` for each rate's window."""
        made: Counter[Key] = Counter()
        for job_id in taken:
            made.update(key for key in self._chosen.get(job_id, ()) if key[2] == "starts")
        found = []
        for (scope, name, _, part), n in sorted(made.items()):
            rate = self.applied[(scope, name)].rate
            assert rate is not None
            found.append((scope.value, name, part, self.window_end(rate), n))
        return found
