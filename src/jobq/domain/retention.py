"""Retention: how long a finished job is kept before it is deleted with its attempts.

Each finished state has its time: the process's settings (``JOBQ_RETAIN_SUCCEEDED``,
``JOBQ_RETAIN_CANCELLED``, ``JOBQ_RETAIN_DEAD``), which a job type may override in code
(``@jq.job(..., retain=Retain(dead="90d"))``). A time is a number of seconds (0: delete at the
next sweep) or ``None``: keep forever. Jobs that may still run (pending, running, failed and
due again) are never deleted. No I/O here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from jobq.domain.states import JobState

#: the states a job is deleted from, once its time in them has passed
FINISHED_STATES = (JobState.SUCCEEDED, JobState.CANCELLED, JobState.DEAD)
#: seconds; None: forever
Keep = float | None

DAY = 86_400.0
DEFAULT_RETAIN: dict[JobState, Keep] = {
    JobState.SUCCEEDED: 1 * DAY,
    JobState.CANCELLED: 7 * DAY,
    JobState.DEAD: 30 * DAY,
}
#: the longest time one may give (longer: say forever)
MAX_RETAIN = 100 * 365 * DAY
FOREVER_WORDS = frozenset({"forever", "never"})

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY, "w": 7 * DAY}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
#: a duration as the settings and the CLI take it
DURATION_HELP = (
    "a duration: seconds (3600) or a number and unit, combined if needed (90s, 15m, 24h, 7d, 2w, "
    "1d12h), or forever"
)


def parse_duration(text: str, *, forever: bool = True) -> Keep:
    """``"7d"`` -> 604800.0, ``"1h30m"`` -> 5400.0, ``"90"`` -> 90.0, ``"forever"`` -> None
    (where ``forever`` allows it); ``ValueError`` otherwise."""
    value = text.strip().lower()
    if value in FOREVER_WORDS:
        if not forever:
            raise ValueError("forever is not allowed here")
        return None
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    return check_keep(seconds)


def check_keep(seconds: float) -> float:
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_RETAIN:
        raise ValueError(f"a retention must be 0..{MAX_RETAIN:.0f} seconds (or forever)")
    return float(seconds)


def as_keep(value: float | int | str | timedelta | None) -> Keep:
    """A retention as code may give it: seconds, a ``timedelta``, a duration string, or
    ``None``/``"forever"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a retention is seconds, a timedelta, a duration string or 'forever'")
    if isinstance(value, timedelta):
        return check_keep(value.total_seconds())
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float):
        return check_keep(float(value))
    raise TypeError("a retention is seconds, a timedelta, a duration string or 'forever'")


def describe_keep(keep: Keep) -> str:
    """``604800.0`` -> ``"7d"``, ``None`` -> ``"forever"``."""
    if keep is None:
        return "forever"
    rest, text = round(keep), ""
    for unit in ("d", "h", "m", "s"):
        size = round(_UNITS[unit])
        if rest >= size:
            text += f"{rest // size}{unit}"
            rest %= size
    return text or "0s"


def describe_times(times: Mapping[JobState, Keep]) -> str:
    """``succeeded 1d, cancelled 7d, dead 30d``: the states given, in that order."""
    given = [state for state in FINISHED_STATES if state in times]
    return ", ".join(f"{state.value} {describe_keep(times[state])}" for state in given)


#: a state of ``Retain`` left to the process's setting
_UNSET = "inherit"


@dataclass(frozen=True, slots=True)
class Retain:
    """A job type's own retention, per finished state: seconds, a ``timedelta``, a duration
    (``"90d"``) or ``"forever"``; a state left out (or ``"inherit"``) keeps the process's
    setting."""

    succeeded: float | int | str | timedelta | None = _UNSET
    cancelled: float | int | str | timedelta | None = _UNSET
    dead: float | int | str | timedelta | None = _UNSET
    #: the times given, checked (filled in at creation)
    times: dict[JobState, Keep] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        times: dict[JobState, Keep] = {}
        for state in FINISHED_STATES:
            value = getattr(self, state.value)
            if value == _UNSET:
                continue
            try:
                times[state] = as_keep(value)
            except ValueError as exc:
                raise ValueError(f"retain {state.value}: {exc}") from None
        object.__setattr__(self, "times", times)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The retention in force: the process's times, and the types' own (by type name)."""

    times: Mapping[JobState, Keep] = field(default_factory=lambda: dict(DEFAULT_RETAIN))
    by_type: Mapping[str, Mapping[JobState, Keep]] = field(default_factory=dict)

    def keep(self, job_type: str, state: JobState) -> Keep:
        """How long a job of ``job_type`` is kept in the finished ``state``."""
        own = self.by_type.get(job_type)
        if own is not None and state in own:
            return own[state]
        return self.times.get(state, DEFAULT_RETAIN[state])

    def everything_older_than(self, seconds: float) -> RetentionPolicy:
        """Every finished job older than ``seconds``, whatever its type (``jobq prune
        --older-than``)."""
        return RetentionPolicy(dict.fromkeys(FINISHED_STATES, seconds), {})
