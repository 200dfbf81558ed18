"""Periodic jobs: every ``serve`` and ``worker`` process keeps every schedule it knows.

At each tick each process asks the store to fire it (``Ticks.fire``); the store makes the
tick's job in the transaction that records the tick, so the first process makes it and the
others change nothing. There is no leader: a process that dies costs nothing while another
lives, and the last tick recorded survives every process. A tick is fired by whichever process
sees it first, up to ``LATE_GRACE`` after it (a process that starts fires the ticks of the last
minute that none fired); older ones were missed, and the schedule's ``missed`` policy says what
becomes of them (``domain/schedule.py``).

The schedules are those of the process's code and those made at run time (``StoredSchedules``),
read again every ``RELOAD_INTERVAL`` seconds with which schedules are paused. The store itself
refuses a paused schedule's ticks, and a stored schedule's ticks under a definition changed or
removed since the process read it, so a process that has not read the change yet makes no job
from it. A schedule made, changed or resumed fires its ticks from then on (within the grace,
those that passed before a process read the change).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from structlog.typing import FilteringBoundLogger

from jobq.clock import Clock
from jobq.domain.errors import JobqError, StoreError
from jobq.domain.job import Job, NewJob
from jobq.domain.schedule import LATE_GRACE, Schedule, TickRecord
from jobq.store.ports import StoredSchedules, Ticks

#: how long to wait before firing again after the store failed
RETRY_AFTER = 1.0
#: how often stored schedules and pauses are read again
RELOAD_INTERVAL = 5.0
#: the job of one tick of a schedule (``JobQueue.tick_job``: checked as any enqueue is)
MakeJob = Callable[[Schedule, datetime], NewJob]


class Scheduler:
    """Fire the ticks of ``schedules`` (and, with ``stored``, of the store's) as they come, from
    ``clock``'s time."""

    name = "scheduler"

    def __init__(
        self,
        ticks: Ticks,
        schedules: Sequence[Schedule],
        make_job: MakeJob,
        *,
        clock: Clock,
        log: FilteringBoundLogger,
        stored: StoredSchedules | None = None,
        on_enqueued: Callable[[Job], None] = lambda job: None,
    ) -> None:
        self._ticks = ticks
        self._code = list(schedules)
        self._stored_source = stored
        self._make_job = make_job
        self._clock = clock
        self._log = log
        self._on_enqueued = on_enqueued
        self._schedules: list[Schedule] = list(self._code)
        self._paused: set[str] = set()
        #: per schedule, the tick up to which it is dealt with (fired, or left to its policy)
        self._cursor: dict[str, datetime] = {}

    @property
    def schedules(self) -> list[Schedule]:
        """The schedules kept now (code, then stored), paused ones included."""
        return list(self._schedules)

    async def run(self) -> None:
        if not self._code and self._stored_source is None:
            return
        loop = asyncio.get_running_loop()
        started = await self.start(self._clock.now())
        while not started:
            await asyncio.sleep(RETRY_AFTER)
            started = await self.start(self._clock.now())
        reload_at = loop.time() + RELOAD_INTERVAL
        while True:
            until_reload = max(0.0, reload_at - loop.time())
            await asyncio.sleep(min(self.seconds_to_next(self._clock.now()), until_reload))
            if loop.time() >= reload_at:
                await self.reload(self._clock.now())
                reload_at = loop.time() + RELOAD_INTERVAL
            if not await self.fire_due(self._clock.now()):
                await asyncio.sleep(RETRY_AFTER)

    async def start(self, now: datetime) -> bool:
        """Read the stored schedules and deal with the ticks each schedule missed while no
        process ran, per its policy (a schedule never fired before missed none); False if the
        store failed."""
        last = await self._read(now)
        if last is None:
            return False
        self._paused = {name for name, record in last.items() if record.paused}
        for schedule in self._schedules:
            record = last.get(schedule.name)
            self._cursor[schedule.name] = now if record is None else min(record.tick, now)
        missed = {
            schedule.name: schedule.due(self._cursor[schedule.name], now)
            for schedule in self._schedules
        }
        ok = await self._fire_all(missed, now)
        if ok:
            for schedule in self._schedules:
                self._cursor[schedule.name] = now
        return ok

    async def reload(self, now: datetime) -> bool:
        """Read the stored schedules and the pauses again; a schedule new to this process,
        changed or resumed is due from then on (within the grace). False if the store failed
        (the last reading stays)."""
        last = await self._read(now)
        if last is None:
            return False
        paused = {name for name, record in last.items() if record.paused}
        for name in self._paused - paused:  # resumed: its ticks from the resume on are due
            record = last.get(name)
            if name in self._cursor and record is not None:
                self._cursor[name] = max(min(record.tick, now), now - LATE_GRACE)
        self._paused = paused
        return True

    async def _read(self, now: datetime) -> dict[str, TickRecord] | None:
        """Read the ticks' records and the stored schedules, and keep the latter; None if the
        store failed."""
        try:
            last = await self._ticks.last()
            stored = [] if self._stored_source is None else await self._stored_source.all()
        except StoreError as exc:
            self._log.warning("scheduler_failed", error=str(exc))
            return None
        self._adopt([found.schedule for found in stored], now)
        return last

    def _adopt(self, stored: list[Schedule], now: datetime) -> None:
        """Keep ``stored`` beside the code's schedules. A stored schedule new to this process,
        or changed since it was read, is due from its change on (within the grace)."""
        in_code = {schedule.name for schedule in self._code}
        known = {schedule.name: schedule.version for schedule in self._schedules}
        self._schedules = self._code + [s for s in stored if s.name not in in_code]
        for schedule in self._schedules:
            if schedule.name in self._cursor and known.get(schedule.name) == schedule.version:
                continue
            since = now if schedule.version is None else min(schedule.version, now)
            self._cursor[schedule.name] = max(since, now - LATE_GRACE)
        names = {schedule.name for schedule in self._schedules}
        for name in list(self._cursor):
            if name not in names:
                del self._cursor[name]

    def seconds_to_next(self, now: datetime) -> float:
        """How long to sleep until the next tick of any schedule (at most ``RELOAD_INTERVAL``:
        a clock set forward, or a schedule made elsewhere, is noticed that soon)."""
        soonest = RELOAD_INTERVAL
        for schedule in self._schedules:
            if schedule.name in self._paused:
                continue
            for tick in schedule.cron.after(self._cursor.get(schedule.name, now)):
                soonest = min(soonest, (tick - now).total_seconds())
                break
        return max(0.0, soonest)

    async def fire_due(self, now: datetime) -> bool:
        """Fire every tick due by ``now``; False if the store failed (the ticks stay due)."""
        due = {
            schedule.name: (
                []
                if schedule.name in self._paused
                else schedule.due(self._cursor.setdefault(schedule.name, now), now)
            )
            for schedule in self._schedules
        }
        ok = await self._fire_all(due, now)
        if ok:
            for schedule in self._schedules:
                self._cursor[schedule.name] = max(self._cursor[schedule.name], now)
        return ok

    async def _fire_all(self, due: dict[str, list[datetime]], now: datetime) -> bool:
        for schedule in self._schedules:
            for tick in due[schedule.name]:
                if not await self._fire(schedule, tick, now):
                    return False
                self._cursor[schedule.name] = tick
        return True

    async def _fire(self, schedule: Schedule, tick: datetime, now: datetime) -> bool:
        try:
            job = self._make_job(schedule, tick)
            result = await self._ticks.fire(schedule.name, tick, job, version=schedule.version)
        except StoreError as exc:
            self._log.warning("scheduler_failed", schedule=schedule.name, error=str(exc))
            return False
        except JobqError as exc:  # the tick's job is refused: this tick makes none
            self._log.error(
                "schedule_failed", schedule=schedule.name, tick=tick.isoformat(), error=str(exc)
            )
            return True
        if result is not None:
            self._log.info(
                "schedule_fired",
                schedule=schedule.name,
                tick=tick.isoformat(),
                late_seconds=round((now - tick).total_seconds(), 3),
                job_id=result.job.id,
                job_type=result.job.type,
                queue=result.job.queue,
            )
            if result.created:
                self._on_enqueued(result.job)
        return True
