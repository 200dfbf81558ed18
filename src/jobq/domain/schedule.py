"""Periodic jobs: a schedule says which job to enqueue at the ticks of a cron expression, and
what to do about ticks missed while no process ran. No I/O here; the scheduler
(``worker/scheduler.py``) asks ``due`` which ticks to enqueue, and the store
(``store/ports.py``, ``Ticks``) makes each tick's job exactly once across the fleet."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobq.domain.cron import Cron, zone_of
from jobq.domain.errors import InvalidSchedule
from jobq.domain.job import DEFAULT_QUEUE, PRIORITY_MAX, PRIORITY_MIN, JSONValue
from jobq.names import check_name

#: how late a tick may be enqueued and still count as on time (a stalled process, a store that
#: was away for a moment); a tick later than this was missed, and the schedule's ``missed``
#: policy says what becomes of it
LATE_GRACE = timedelta(seconds=60)
#: the idempotency keys of the jobs of ticks start so (``Schedule.tick_key``); no other job's may
TICK_KEY_PREFIX = "schedule:"
#: the most ticks ``missed="all"`` enqueues for one gap, by default and at most
DEFAULT_CATCH_UP = 10
MAX_CATCH_UP = 1000


class Missed(enum.StrEnum):
    """What a schedule does about ticks missed while no process ran (or later than
    ``LATE_GRACE``)."""

    #: enqueue none of them: the next job is the next tick's (the default)
    SKIP = "skip"
    #: enqueue one job, for the latest missed tick
    LATEST = "latest"
    #: enqueue one job for each missed tick, the latest ``catch_up`` of them
    ALL = "all"


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Enqueue ``job_type`` with ``payload`` at every tick of ``cron`` in ``timezone``."""

    name: str
    job_type: str
    cron: Cron
    payload: Mapping[str, JSONValue] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    missed: Missed = Missed.SKIP
    catch_up: int = DEFAULT_CATCH_UP
    #: made at run time and kept in the store (else declared in code); its job type was
    #: checked when it was made, so a process that fires it need not know the type
    stored: bool = False
    #: a stored schedule's version (when it was last changed): the store makes no job for a
    #: version that is no longer current (changed or removed since a process read it)
    version: datetime | None = None

    @property
    def expression(self) -> str:
        return self.cron.expression

    @property
    def timezone(self) -> str:
        return self.cron.zone

    def tick_key(self, tick: datetime) -> str:
        """The idempotency key of the job of ``tick``: the schedule and the tick, in UTC."""
        return f"{TICK_KEY_PREFIX}{self.name}:{tick.strftime('%Y-%m-%dT%H:%M:%SZ')}"

    def next_ticks(self, after: datetime, count: int) -> list[datetime]:
        """The next ``count`` ticks after ``after``."""
        ticks: list[datetime] = []
        for tick in self.cron.after(after):
            if len(ticks) == count:
                break
            ticks.append(tick)
        return ticks

    def due(
        self, since: datetime, now: datetime, *, grace: timedelta = LATE_GRACE
    ) -> list[datetime]:
        """The ticks to enqueue, oldest first, for the ticks after ``since`` and at or before
        ``now``: every one within ``grace`` of ``now``, and of the older ones (missed) what
        the ``missed`` policy keeps."""
        on_time_from = max(since, now - grace)
        missed: list[datetime] = []
        if self.missed is not Missed.SKIP and on_time_from > since:
            keep = 1 if self.missed is Missed.LATEST else self.catch_up
            for tick in self.cron.at_or_before(on_time_from):
                if tick <= since or len(missed) == keep:
                    break
                missed.append(tick)
            missed.reverse()
        on_time: list[datetime] = []
        for tick in self.cron.after(on_time_from):
            if tick > now:
                break
            on_time.append(tick)
        return missed + on_time


def is_schedule_name(name: str) -> bool:
    """Whether a schedule could have ``name`` (``check_name``'s rule)."""
    try:
        check_name(name, what="schedule name")
    except ValueError:
        return False
    return True


def make_schedule(
    job_type: str,
    expression: str,
    *,
    name: str | None = None,
    timezone: str = "UTC",
    payload: Mapping[str, JSONValue] | None = None,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    missed: Missed | str = Missed.SKIP,
    catch_up: int = DEFAULT_CATCH_UP,
    stored: bool = False,
    version: datetime | None = None,
) -> Schedule:
    """A checked ``Schedule``; ``InvalidSchedule`` (a ``ValueError``) names the field at fault.
    ``name``: the job type's by default."""
    name = job_type if name is None else name
    for field_name, value, what in (
        ("name", name, "schedule name"),
        ("type", job_type, "job type"),
        ("queue", queue, "queue"),
    ):
        try:
            check_name(value, what=what)
        except ValueError as exc:
            raise InvalidSchedule(str(exc), field=field_name) from None
    if payload is not None and not isinstance(payload, Mapping):
        raise InvalidSchedule(
            f"payload must be a JSON object, not {type(payload).__name__}", field="payload"
        )
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidSchedule(f"priority must be an integer, not {priority!r}", field="priority")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidSchedule(
            f"priority must be {PRIORITY_MIN}..{PRIORITY_MAX}, not {priority}", field="priority"
        )
    try:
        policy = Missed(missed)
    except ValueError:
        choices = ", ".join(m.value for m in Missed)
        raise InvalidSchedule(
            f"missed must be one of {choices}, not {missed!r}", field="missed"
        ) from None
    if isinstance(catch_up, bool) or not isinstance(catch_up, int):
        raise InvalidSchedule(f"catch_up must be an integer, not {catch_up!r}", field="catch_up")
    if not 1 <= catch_up <= MAX_CATCH_UP:
        raise InvalidSchedule(
            f"catch_up must be 1..{MAX_CATCH_UP}, not {catch_up}", field="catch_up"
        )
    try:
        zone_of(timezone)
    except ValueError as exc:
        raise InvalidSchedule(str(exc), field="timezone") from None
    try:
        cron = Cron(expression, timezone)
    except ValueError as exc:
        raise InvalidSchedule(str(exc), field="cron") from None
    return Schedule(
        name=name,
        job_type=job_type,
        cron=cron,
        payload=dict(payload or {}),
        queue=queue,
        priority=priority,
        missed=policy,
        catch_up=catch_up,
        stored=stored,
        version=version,
    )


@dataclass(frozen=True, slots=True)
class TickRecord:
    """What the store keeps of a schedule's ticks: the latest one dealt with, its job, and
    whether the schedule is paused (then no process makes a job for it)."""

    schedule: str
    #: the latest tick made (or, for a schedule paused or resumed, passed over)
    tick: datetime
    #: that tick's job; None if no tick made one yet
    job_id: str | None
    #: when the tick's job was made
    fired_at: datetime | None
    paused: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredSchedule:
    """A schedule made at run time (API, CLI, dashboard), as the store keeps it."""

    schedule: Schedule
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleInfo:
    """A schedule as people see it: its definition, where it comes from, its state."""

    schedule: Schedule
    paused: bool
    #: its latest tick recorded, None if it never made a job
    last: TickRecord | None
    next_ticks: list[datetime]
    #: for a stored schedule, when it was made and last changed; None for one in code
    created_at: datetime | None = None
    updated_at: datetime | None = None
