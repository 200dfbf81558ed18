"""The read model behind ``/stats``, the dashboard's overview and ``jobq top``: what the queues
hold, which worker pools are alive, how many attempts ended in each recent minute, how long
the oldest waiting job has waited, and which job types wait with no live process to run them;
read from the store, so it shows every process."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobq.domain.job import MinuteCount, Outcome, ProcessInfo, WaitingCount, counts_by_queue
from jobq.domain.limits import LimitScope, ScopeLimits
from jobq.domain.pauses import QueuePause
from jobq.domain.published import PublishedType, TypeSpec
from jobq.domain.states import JobState
from jobq.store.ports import LimitControl, QueueControl, Reads
from jobq.worker.presence import STALE_AFTER

#: outcomes counted as bad in the charts (an interrupted attempt is handed back, not failed)
BAD = (Outcome.FAILED, Outcome.LOST)


@dataclass(frozen=True, slots=True)
class TypeWaiting:
    """Due jobs of one type that wait for a worker, and whether any live process can run them."""

    type: str
    waiting: int
    #: seconds the longest-waiting of them has waited
    oldest: float
    #: live worker pools that claim this type (in at least one queue its jobs wait in)
    processes: int
    #: waiting jobs that no live pool claims: of this type, in their queue
    unhandled: int

    @property
    def warning(self) -> str | None:
        """ "no worker for `video.encode`: 1,204 waiting, oldest 3.0 h", or None."""
        if not self.unhandled:
            return None
        return f"no worker for `{self.type}`: {self.unhandled:,} waiting, oldest {age(self.oldest)}"


def waiting_by_type(
    rows: list[WaitingCount], processes: list[ProcessInfo], now: datetime
) -> list[TypeWaiting]:
    """One ``TypeWaiting`` per type with due jobs: those no process runs first, then the
    longest queues."""
    by_type: dict[str, list[WaitingCount]] = {}
    for row in rows:
        by_type.setdefault(row.type, []).append(row)
    found = []
    for name, parts in by_type.items():
        found.append(
            TypeWaiting(
                type=name,
                waiting=sum(part.count for part in parts),
                oldest=max(0.0, (now - min(part.since for part in parts)).total_seconds()),
                processes=sum(
                    1 for p in processes if any(p.runs(part.queue, name) for part in parts)
                ),
                unhandled=sum(
                    part.count
                    for part in parts
                    if not any(p.runs(part.queue, name) for p in processes)
                ),
            )
        )
    return sorted(found, key=lambda t: (-t.unhandled, -t.waiting, t.type))


def no_runner(processes: list[ProcessInfo], queue: str, job_type: str) -> str | None:
    """Why a job of ``job_type`` in ``queue`` would wait for ever among these live worker
    processes, or None when one of them claims such jobs."""
    if not processes:
        return "no worker process is running: start one with `jobq worker` (or `jobq serve`)"
    if any(p.runs(queue, job_type) for p in processes):
        return None
    up = f"{len(processes)} worker process{'es' if len(processes) != 1 else ''} up"
    return (
        f"no live worker process runs `{job_type}` on queue `{queue}` ({up}, none with a "
        "handler for it there): start one whose --app registers it"
    )


async def runner_missing(reads: Reads, queue: str, job_type: str) -> str | None:
    """``no_runner`` among the worker processes live now (their presence rows)."""
    return no_runner(await reads.processes(max_age=STALE_AFTER), queue, job_type)


def age(seconds: float) -> str:
    """A wait as people say it, as every view shows it: 42.0 s, 3.5 min, 2.0 h."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass(frozen=True, slots=True)
class Overview:
    #: queue -> status -> jobs, every status present
    counts: dict[str, dict[str, int]]
    #: worker pools heard from within ``STALE_AFTER`` seconds
    processes: list[ProcessInfo]
    #: attempts that ended in each of the last ``minutes`` minutes, by outcome
    ended: list[MinuteCount]
    minutes: int
    #: seconds the longest-waiting due job has waited; None: none waits
    oldest_waiting: float | None
    taken_at: datetime
    #: due jobs by type, those no live process runs first
    waiting: list[TypeWaiting] = field(default_factory=list)
    #: the queues paused now, by name
    paused: list[QueuePause] = field(default_factory=list)
    #: the types and queues with limits, by scope and name
    limits: list[ScopeLimits] = field(default_factory=list)

    def queue_limits(self) -> dict[str, ScopeLimits]:
        """The queues' limits, by queue."""
        return {held.name: held for held in self.limits if held.scope is LimitScope.QUEUE}

    @property
    def warnings(self) -> list[str]:
        """One line per job type whose waiting jobs no live process can run."""
        return [t.warning for t in self.waiting if t.warning is not None]

    @property
    def totals(self) -> dict[str, int]:
        """status -> jobs, every queue."""
        return {
            state.value: sum(row.get(state.value, 0) for row in self.counts.values())
            for state in JobState
        }

    def by_minute(self) -> list[tuple[datetime, dict[Outcome, int]]]:
        """One row per minute that saw attempts end, oldest first."""
        rows: dict[datetime, dict[Outcome, int]] = {}
        for count in self.ended:
            rows.setdefault(count.minute, {})[count.outcome] = count.count
        return sorted(rows.items())

    def series(self, span: int | None = None) -> tuple[list[int], list[int]]:
        """Succeeded and failed-or-lost attempts in each of the last ``span`` minutes (default:
        all of them), oldest first, this minute last; minutes with none are zero."""
        span = span or self.minutes
        current = int(self.taken_at.timestamp() // 60)
        succeeded, bad = [0] * span, [0] * span
        for row in self.ended:
            index = span - 1 - (current - int(row.minute.timestamp() // 60))
            if not 0 <= index < span:
                continue
            if row.outcome is Outcome.SUCCEEDED:
                succeeded[index] += row.count
            elif row.outcome in BAD:
                bad[index] += row.count
        return succeeded, bad


@dataclass(frozen=True, slots=True)
class QueueInfo:
    """A queue as ``/queues``, ``jobq queues list`` and the overview show it."""

    name: str
    #: status -> jobs, every status present
    counts: dict[str, int]
    #: the pause that holds now, if any
    pause: QueuePause | None
    #: its limits (in code and set at run time); None: nothing limits it
    limits: ScopeLimits | None = None


@dataclass(frozen=True, slots=True)
class TypeInfo:
    """A job type as ``/types``, ``jobq types list`` and the dashboard show it."""

    name: str
    #: due jobs of the type, waiting for a worker (every queue)
    waiting: int
    #: jobs of the type claimed and not yet ended (every queue)
    running: int
    #: this process has a handler for it
    handled: bool
    #: its limits (in code and set at run time); None: nothing limits it
    limits: ScopeLimits | None = None
    #: its schemas and options: this process's own, else as a live process published them
    spec: TypeSpec | None = None
    #: the live worker processes that published it (pool ids)
    processes: tuple[str, ...] = ()
    #: what is off with it (live processes publish different payload schemas)
    warnings: tuple[str, ...] = ()


def type_document(info: TypeInfo) -> dict[str, Any]:
    """A type as ``GET /types/{name}`` and ``jobq types show`` answer it."""
    spec = dict(info.spec.spec) if info.spec is not None else {}
    return {
        "name": info.name,
        "waiting": info.waiting,
        "running": info.running,
        "handled": info.handled,
        "limit": None if info.limits is None else info.limits.to_dict(),
        "payload_schema": spec.pop("payload_schema", None),
        "result_schema": spec.pop("result_schema", None),
        "options": spec or None,
        "processes": list(info.processes),
        "warnings": list(info.warnings),
    }


def no_jobs() -> dict[str, int]:
    """status -> 0, every status: a queue without jobs."""
    return dict.fromkeys((state.value for state in JobState), 0)


def queue_infos(
    counts: dict[str, dict[str, int]],
    paused: list[QueuePause],
    limits: Sequence[ScopeLimits] = (),
) -> list[QueueInfo]:
    """Every queue that has jobs (``counts``: queue -> status -> jobs), a pause or a limit, by
    name."""
    pauses = {pause.queue: pause for pause in paused}
    limited = {held.name: held for held in limits if held.scope is LimitScope.QUEUE}
    return [
        QueueInfo(name, counts.get(name) or no_jobs(), pauses.get(name), limited.get(name))
        for name in sorted({*counts, *pauses, *limited})
    ]


async def queues(reads: Reads, control: QueueControl, limits: LimitControl) -> list[QueueInfo]:
    """Every queue that has jobs, a pause or a limit, by name, read at once."""
    counts, paused, limited = await asyncio.gather(
        reads.counts(), control.pauses(), limits.limits()
    )
    return queue_infos(counts_by_queue(counts), paused, limited)


@dataclass(frozen=True, slots=True)
class KnownTypes:
    """What a process knows of the types beside their jobs: its own specs, what live
    processes published, and the types whose published payload schemas differ."""

    own: list[TypeSpec] = field(default_factory=list)
    published: list[PublishedType] = field(default_factory=list)
    conflicts: dict[str, list[str]] = field(default_factory=dict)

    def spec(self, name: str) -> TypeSpec | None:
        own = next((s for s in self.own if s.name == name), None)
        if own is not None:
            return own
        latest = [p for p in self.published if p.type.name == name]
        return max(latest, key=lambda p: p.published_at).type if latest else None

    def processes(self, name: str) -> tuple[str, ...]:
        return tuple(sorted({p.process for p in self.published if p.type.name == name}))

    def warnings(self, name: str) -> tuple[str, ...]:
        if name not in self.conflicts:
            return ()
        return (schemas_differ(name, self.conflicts[name]),)


def schemas_differ(name: str, digests: Sequence[str]) -> str:
    """The warning about a type whose live processes publish different payload schemas."""
    return (
        f"live processes publish different payload schemas for {name!r} ({', '.join(digests)}): "
        "a payload that either accepts is accepted until one of them is gone"
    )


def type_infos(
    waiting: list[WaitingCount],
    running: list[tuple[str, str, int]],
    limits: list[ScopeLimits],
    handled: list[str],
    known: KnownTypes | None = None,
) -> list[TypeInfo]:
    """Every type that has jobs waiting or running, a limit, or a handler here or in a live
    process, by name."""
    known = known or KnownTypes()
    due: Counter[str] = Counter()
    for row in waiting:
        due[row.type] += row.count
    busy: Counter[str] = Counter()
    for job_type, _, count in running:
        busy[job_type] += count
    limited = {held.name: held for held in limits if held.scope is LimitScope.TYPE}
    published = {p.type.name for p in known.published}
    return [
        TypeInfo(
            name,
            due[name],
            busy[name],
            name in handled,
            limited.get(name),
            known.spec(name),
            known.processes(name),
            known.warnings(name),
        )
        for name in sorted({*due, *busy, *limited, *handled, *published})
    ]


async def types(
    reads: Reads, limits: LimitControl, handled: list[str], known: KnownTypes | None = None
) -> list[TypeInfo]:
    """Every type that has jobs waiting or running, a limit, or a handler in ``handled`` or
    in a live process (``known``)."""
    waiting, running, limited = await asyncio.gather(
        reads.waiting(), limits.running(), limits.limits()
    )
    return type_infos(waiting, running, limited, handled, known)


async def _controls(
    control: QueueControl, limits: LimitControl
) -> tuple[list[QueuePause], list[ScopeLimits]]:
    return await asyncio.gather(control.pauses(), limits.limits())


async def overview(
    reads: Reads, control: QueueControl, limits: LimitControl, *, minutes: int, now: datetime
) -> Overview:
    """Everything an overview shows, read at once."""
    counts, processes, ended, oldest, waiting, (paused, limited) = await asyncio.gather(
        reads.counts(),
        reads.processes(max_age=STALE_AFTER),
        reads.throughput(minutes=minutes),
        reads.oldest_waiting_age(),
        reads.waiting(),
        _controls(control, limits),
    )
    return Overview(
        {info.name: info.counts for info in queue_infos(counts_by_queue(counts), paused, limited)},
        processes,
        ended,
        minutes,
        oldest,
        now,
        waiting_by_type(waiting, processes, now),
        paused,
        limited,
    )


async def types_waiting(reads: Reads, *, now: datetime) -> list[TypeWaiting]:
    """Due jobs by type, and which of them no live worker pool claims."""
    rows, processes = await asyncio.gather(reads.waiting(), reads.processes(max_age=STALE_AFTER))
    return waiting_by_type(rows, processes, now)
