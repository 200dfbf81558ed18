"""``jq.schedules``: a ``JobQueue``'s periodic jobs. Those declared in code (``jq.schedule``,
``@jq.job(schedule=...)``) live in this process; those made at run time (the API, the CLI, the
dashboard) live in the store, and every process fires them. Both can be listed, paused and
resumed; only stored ones can be changed or removed here."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jobq.clock import Clock
from jobq.domain.errors import InvalidSchedule, JobqError, ScheduleConflict, ScheduleNotFound
from jobq.domain.jsonvalues import dumps
from jobq.domain.schedule import (
    Schedule,
    ScheduleInfo,
    StoredSchedule,
    TickRecord,
    make_schedule,
)
from jobq.store.ports import Store

#: how many upcoming ticks a listing shows
NEXT_TICKS = 3
#: the fields ``update`` may change, as ``make_schedule`` names them
CHANGEABLE = frozenset(
    {"job_type", "cron", "timezone", "payload", "queue", "priority", "missed", "catch_up"}
)


class Schedules:
    """Schedules by name: those declared in code here, the store's through ``store()``."""

    def __init__(
        self, store: Callable[[], Store], check: Callable[[Schedule], None], clock: Clock
    ) -> None:
        """``check``: raise a ``JobqError`` unless the schedule's job would be accepted (its
        type known, its payload JSON)."""
        self._store = store
        self._check = check
        self._clock = clock
        self._declared: dict[str, Schedule] = {}

    # -- in code ----------------------------------------------------------------------------

    def declare(self, schedule: Schedule) -> None:
        """Keep ``schedule`` (declared in code); ``InvalidSchedule`` if its name is taken or
        its job would not be accepted."""
        if schedule.name in self._declared:
            raise InvalidSchedule(
                f"a schedule named {schedule.name!r} exists already: give the second schedule "
                "of a job type a name of its own (name=...)",
                field="name",
            )
        self._checked(schedule)
        self._declared[schedule.name] = schedule

    def __iter__(self) -> Iterator[Schedule]:
        """The schedules declared in code, by name."""
        return iter(sorted(self._declared.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._declared)

    def declared(self, name: str) -> Schedule | None:
        return self._declared.get(name)

    # -- all of them, through the store -----------------------------------------------------

    async def list(self) -> list[ScheduleInfo]:
        """Every schedule, those in code first, then the stored ones, each by name."""
        store = self._store()
        records = await store.ticks.last()
        stored = await store.schedules.all()
        infos = [self._info(s, records.get(s.name)) for s in self]
        infos += [
            self._info(s.schedule, records.get(s.schedule.name), s)
            for s in stored
            if s.schedule.name not in self._declared
        ]
        return infos

    async def get(self, name: str) -> ScheduleInfo:
        """``ScheduleNotFound`` if no schedule has that name."""
        store = self._store()
        records = await store.ticks.last()
        declared = self._declared.get(name)
        if declared is not None:
            return self._info(declared, records.get(name))
        found = await store.schedules.get(name)
        if found is None:
            raise ScheduleNotFound(f"no schedule is named {name!r}")
        return self._info(found.schedule, records.get(name), found)

    async def create(
        self, job_type: str, cron: str, *, paused: bool = False, **options: Any
    ) -> ScheduleInfo:
        """Store a schedule made at run time (options as for ``JobQueue.schedule``), paused
        if asked; ``InvalidSchedule``, or ``ScheduleConflict`` if its name is taken."""
        schedule = make_schedule(job_type, cron, stored=True, **options)
        if schedule.name in self._declared:
            raise ScheduleConflict(
                f"a schedule named {schedule.name!r} is declared in this app's code"
            )
        self._checked(schedule)
        await self._store().schedules.add(schedule, paused=paused)
        return await self.get(schedule.name)

    async def update(self, name: str, changes: Mapping[str, Any]) -> ScheduleInfo:
        """Change a stored schedule's fields (``CHANGEABLE``) and, for any schedule,
        ``paused``. ``ScheduleConflict`` for a field of a schedule declared in code."""
        unknown = set(changes) - CHANGEABLE - {"paused"}
        if unknown:
            raise InvalidSchedule(f"{sorted(unknown)[0]} cannot be changed", field=min(unknown))
        if "paused" in changes and not isinstance(changes["paused"], bool):
            raise InvalidSchedule("paused must be true or false", field="paused")
        fields = {k: v for k, v in changes.items() if k != "paused"}
        store = self._store()
        if name in self._declared:
            if fields:
                raise ScheduleConflict(
                    f"schedule {name!r} is declared in code: change it there (only paused can "
                    "change here)"
                )
        elif fields:
            found = await store.schedules.get(name)
            if found is None:
                raise ScheduleNotFound(f"no schedule is named {name!r}")
            schedule = self._changed(found, fields)
            self._checked(schedule)
            if await store.schedules.replace(schedule) is None:
                raise ScheduleNotFound(f"no schedule is named {name!r}")
        elif await store.schedules.get(name) is None:
            raise ScheduleNotFound(f"no schedule is named {name!r}")
        if "paused" in changes:
            await store.ticks.set_paused(name, changes["paused"])
        return await self.get(name)

    async def pause(self, name: str) -> ScheduleInfo:
        return await self.update(name, {"paused": True})

    async def resume(self, name: str) -> ScheduleInfo:
        return await self.update(name, {"paused": False})

    async def remove(self, name: str) -> None:
        """Delete a stored schedule (its jobs stay); ``ScheduleConflict`` for one in code."""
        if name in self._declared:
            raise ScheduleConflict(f"schedule {name!r} is declared in code: remove it there")
        if not await self._store().schedules.remove(name):
            raise ScheduleNotFound(f"no schedule is named {name!r}")

    # -- helpers ----------------------------------------------------------------------------

    def _checked(self, schedule: Schedule) -> None:
        try:
            dumps(dict(schedule.payload), what="payload")
            self._check(schedule)
        except JobqError as exc:
            if isinstance(exc, InvalidSchedule):
                raise
            field = "type" if "job type" in str(exc) else "payload"
            raise InvalidSchedule(f"schedule {schedule.name!r}: {exc}", field=field) from None

    def _changed(self, found: StoredSchedule, fields: Mapping[str, Any]) -> Schedule:
        old = found.schedule
        merged: dict[str, Any] = {
            "job_type": old.job_type,
            "cron": old.expression,
            "timezone": old.timezone,
            "payload": dict(old.payload),
            "queue": old.queue,
            "priority": old.priority,
            "missed": old.missed,
            "catch_up": old.catch_up,
            **fields,
        }
        job_type, cron = merged.pop("job_type"), merged.pop("cron")
        return make_schedule(job_type, cron, name=old.name, stored=True, **merged)

    def _info(
        self, schedule: Schedule, record: TickRecord | None, stored: StoredSchedule | None = None
    ) -> ScheduleInfo:
        return ScheduleInfo(
            schedule=schedule,
            paused=record is not None and record.paused,
            last=record if record is not None and record.job_id is not None else None,
            next_ticks=schedule.next_ticks(self._clock.now(), NEXT_TICKS),
            created_at=None if stored is None else stored.created_at,
            updated_at=None if stored is None else stored.updated_at,
        )
