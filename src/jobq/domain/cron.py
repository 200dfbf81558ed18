"""Cron expressions in a time zone: the wall-clock ticks they name, as UTC instants.

The expression is read by cronsim: five fields (minute hour day-of-month month day-of-week), or
six with seconds first (``*/10 * * * * *``: every ten seconds).
Ticks are wall-clock times in the zone, walked on the naive wall clock, so on the days clocks
change each expression follows one rule, whatever its fields:
- a wall-clock time that does not exist that day (clocks spring forward over it) is no tick;
- a wall-clock time that exists twice (clocks fall back over it) is one tick, at its first
  occurrence (an hourly schedule runs once in the repeated hour).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

#: how far a walk through the ticks looks before it gives up: an expression whose every time
#: falls in a daylight-saving gap of its zone (``30 2 * 3 0L`` in Europe/Paris: the last
#: Sunday of March, at 02:30) has no tick at all, and a walk must end (cronsim's own limit)
_HORIZON = timedelta(days=365 * 50)
#: where ``Cron`` looks for a first tick to say that an expression has one
_REFERENCE = datetime(2001, 1, 1, tzinfo=UTC)


def zone_of(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``, ``UTC``); ``ValueError`` naming it."""
    if not isinstance(name, str) or not name or name.strip() != name:
        raise ValueError(f"unknown time zone {name!r}: give an IANA name such as Europe/Paris")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: give an IANA name such as Europe/Paris"
        ) from None


def _shifted(moment: datetime, by: timedelta) -> datetime:
    """``moment + by``, held within the calendar (years 1..9999)."""
    try:
        return moment + by
    except OverflowError:
        return datetime.max if by > timedelta(0) else datetime.min


class Cron:
    """``expression`` read in the time zone ``zone``; ``ValueError`` says what is wrong."""

    __slots__ = ("_tz", "expression", "zone")

    def __init__(self, expression: str, zone: str = "UTC") -> None:
        self.expression = expression
        self.zone = zone
        self._tz = zone_of(zone)
        if not isinstance(expression, str) or not expression.strip():
            raise ValueError("cron expression is empty: give five fields (or six, seconds first)")
        if len(expression.split()) not in (5, 6):
            raise ValueError(
                f"cron expression {expression!r} has {len(expression.split())} fields: give "
                "five (minute hour day month weekday), or six with seconds first"
            )
        try:
            next(iter(CronSim(expression, datetime(2000, 1, 1))))
        except (CronSimError, ValueError, StopIteration, OverflowError) as exc:
            raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
        if next(self.after(_REFERENCE), None) is None:
            raise ValueError(
                f"cron expression {expression!r} names no time that exists in {zone} "
                "(every one falls where clocks spring forward)"
            )

    def explain(self) -> str:
        """The expression in English words (cronsim's), with its zone."""
        try:
            words = CronSim(self.expression, datetime(2000, 1, 1)).explain()
        except (CronSimError, ValueError):  # pragma: no cover - checked in __init__
            words = self.expression
        return words if self.zone == "UTC" else f"{words} ({self.zone})"

    def after(self, moment: datetime) -> Iterator[datetime]:
        """The ticks strictly after ``moment`` (aware), oldest first, as UTC instants."""
        naive = moment.astimezone(self._tz).replace(tzinfo=None)
        # one second back: a tick in the second fold of a repeated hour maps to an earlier
        # naive time than ``moment`` would be on the first fold; the filter below drops those
        horizon = _shifted(naive, _HORIZON)
        for wall in self._walk(naive - timedelta(seconds=1), reverse=False):
            if wall > horizon:
                return
            tick = self._instant(wall)
            if tick is not None and tick > moment:
                yield tick

    def at_or_before(self, moment: datetime) -> Iterator[datetime]:
        """The ticks at or before ``moment`` (aware), newest first, as UTC instants."""
        seen = moment.astimezone(self._tz)
        naive = seen.replace(tzinfo=None)
        if seen.fold:  # in a repeated hour, the second time: its first times are behind too
            first = seen.replace(fold=0).utcoffset()
            second = seen.utcoffset()
            if first is not None and second is not None and first > second:
                naive += first - second
        horizon = _shifted(naive, -_HORIZON)
        for wall in self._walk(naive + timedelta(seconds=1), reverse=True):
            if wall < horizon:
                return
            tick = self._instant(wall)
            if tick is not None and tick <= moment:
                yield tick

    def _walk(self, start: datetime, *, reverse: bool) -> Iterator[datetime]:
        """cronsim's naive wall-clock times from ``start``; ends where cronsim gives up (no
        time within its limit, or past the calendar's end)."""
        walk = iter(CronSim(self.expression, start, reverse=reverse))
        while True:
            try:
                yield next(walk)
            except (StopIteration, CronSimError, OverflowError, ValueError):
                return

    def _instant(self, wall: datetime) -> datetime | None:
        """The wall-clock time ``wall`` in the zone as a UTC instant (its first occurrence);
        None if it does not exist there (a spring-forward gap)."""
        local = wall.replace(tzinfo=self._tz, fold=0)
        instant = local.astimezone(UTC)
        if instant.astimezone(self._tz).replace(tzinfo=None) != wall:
            return None
        return instant
