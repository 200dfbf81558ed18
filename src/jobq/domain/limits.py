"""Limits: how many jobs of a job type or of a queue may run at once across the whole fleet
(``Limit``), and how many may start per period (``Rate``), each optionally counted apart per
value of a payload field (``by``: one customer's jobs do not use up another's).

A limit is declared in code (``@jq.job(..., concurrency=5, rate=Rate(100, per=60))``) or set at
run time (``jobq types limit``, ``jobq queues limit``, the API, the dashboard). The rule when
both exist: **the limit set at run time wins, whole**, until it is cleared; then the code's
holds again. A run-time setting with neither a concurrency nor a rate lifts the code's limit.
The claims enforce them in the store (``store/limits.py``). No I/O here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

#: the most jobs a limit may allow (running at once, or starting per period)
MAX_COUNT = 1_000_000
#: the longest period of a rate, in seconds (a week)
MAX_PERIOD = 7 * 86_400.0
#: the shortest period of a rate, in seconds
MIN_PERIOD = 0.001
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
FIELD_RULE = "a top-level payload field: 1-64 letters, digits and _, not starting with a digit"


class LimitScope(StrEnum):
    """What a limit counts: the jobs of one type, or of one queue."""

    TYPE = "type"
    QUEUE = "queue"


class LimitOrigin(StrEnum):
    """Where a limit comes from: the app's code, or a setting made at run time."""

    CODE = "code"
    SET = "set"


def _check_count(count: object, what: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise ValueError(f"{what} must be a whole number 1..{MAX_COUNT:,}, not {count!r}")
    return count


def check_field(by: object) -> str:
    """``by`` if it names a payload field a limit may be counted by; ``ValueError`` if not."""
    if not isinstance(by, str) or not _FIELD.fullmatch(by):
        raise ValueError(f"by={by!r} is not allowed: {FIELD_RULE}")
    return by


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` jobs running at once (per value of the payload field ``by``)."""

    count: int
    by: str | None = None

    def __post_init__(self) -> None:
        _check_count(self.count, "a concurrency limit")
        if self.by is not None:
            check_field(self.by)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "by": self.by}


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` jobs starting in each period of ``per`` seconds (per value of the
    payload field ``by``). Periods are fixed windows that start at multiples of ``per``
    seconds since the Unix epoch, on the store's clock."""

    count: int
    per: float
    by: str | None = None

    def __post_init__(self) -> None:
        _check_count(self.count, "a rate")
        per = self.per
        if (
            isinstance(per, bool)
            or not isinstance(per, int | float)
            or not math.isfinite(per)
            or not MIN_PERIOD <= per <= MAX_PERIOD
        ):
            raise ValueError(
                f"a rate's period must be {MIN_PERIOD:g}..{MAX_PERIOD:g} seconds, not {per!r}"
            )
        object.__setattr__(self, "per", float(per))
        if self.by is not None:
            check_field(self.by)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "per": self.per, "by": self.by}


def _per_value(by: str | None) -> str:
    return "" if by is None else f" per {by}"


def _period(seconds: float) -> str:
    """60.0 -> "60s", 0.5 -> "0.5s"."""
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class Limits:
    """A scope's concurrency limit and rate (either may be None: not limited that way)."""

    concurrency: Limit | None = None
    rate: Rate | None = None

    def __bool__(self) -> bool:
        return self.concurrency is not None or self.rate is not None

    @property
    def fields(self) -> tuple[str, ...]:
        """The payload fields these limits count by."""
        found = [limit.by for limit in (self.concurrency, self.rate) if limit is not None]
        return tuple(dict.fromkeys(by for by in found if by is not None))

    def describe(self) -> str:
        """ "5 at once per customer_id, 100 per 60s", or "no limit"."""
        parts = []
        if self.concurrency is not None:
            parts.append(f"{self.concurrency.count:,} at once{_per_value(self.concurrency.by)}")
        if self.rate is not None:
            parts.append(
                f"{self.rate.count:,} per {_period(self.rate.per)}{_per_value(self.rate.by)}"
            )
        return ", ".join(parts) or "no limit"

    def to_dict(self) -> dict[str, Any]:
        return {
            "concurrency": None if self.concurrency is None else self.concurrency.to_dict(),
            "rate": None if self.rate is None else self.rate.to_dict(),
        }


def limits_of(concurrency: Limit | int | None, rate: Rate | None) -> Limits:
    """``Limits`` from the ``concurrency=`` (a number or a ``Limit``) and ``rate=`` options;
    ``ValueError`` or ``TypeError`` saying what is wrong."""
    if isinstance(concurrency, int) and not isinstance(concurrency, bool):
        concurrency = Limit(concurrency)
    if concurrency is not None and not isinstance(concurrency, Limit):
        raise TypeError(
            "concurrency must be a number or a Limit (jobq.Limit), not "
            f"{type(concurrency).__name__}"
        )
    if rate is not None and not isinstance(rate, Rate):
        raise TypeError(f"rate must be a Rate (jobq.Rate), not {type(rate).__name__}")
    return Limits(concurrency, rate)


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of one type or queue: the code's, the run-time setting's, and the one that
    holds (``effective``: the setting's if there is one, else the code's)."""

    scope: LimitScope
    name: str
    code: Limits | None = None
    set: Limits | None = None

    @property
    def effective(self) -> Limits:
        held = self.set if self.set is not None else self.code
        return held if held is not None else Limits()

    @property
    def origin(self) -> LimitOrigin | None:
        """Where the limits that hold come from; None: nothing limits the scope."""
        if self.set is not None:
            return LimitOrigin.SET if self.set else None
        return LimitOrigin.CODE if self.code else None

    def to_dict(self) -> dict[str, Any]:
        origin = self.origin
        return {
            **self.effective.to_dict(),
            "origin": None if origin is None else origin.value,
            "code": None if self.code is None else self.code.to_dict(),
            "set": None if self.set is None else self.set.to_dict(),
        }


def merge(rows: list[tuple[LimitScope, str, LimitOrigin, Limits]]) -> list[ScopeLimits]:
    """Stored rows (a scope's code limits and its setting, each a row) as one ``ScopeLimits``
    per scope, by scope and name."""
    found: dict[tuple[LimitScope, str], ScopeLimits] = {}
    for scope, name, origin, limits in rows:
        held = found.get((scope, name)) or ScopeLimits(scope, name)
        if origin is LimitOrigin.CODE:
            held = ScopeLimits(scope, name, limits, held.set)
        else:
            held = ScopeLimits(scope, name, held.code, limits)
        found[(scope, name)] = held
    return [found[key] for key in sorted(found)]


def parse_rate(text: str) -> tuple[int, float]:
    """``"100/60s"``, ``"10/s"``, ``"5000/1h"`` -> (count, seconds); ``ValueError`` saying
    what is wrong."""
    from jobq.domain.retention import parse_duration

    count, slash, period = text.partition("/")
    if not slash or not count.strip().isdigit():
        raise ValueError(f"{text!r} is not N/PERIOD: 100/60s, 10/s, 5000/1h")
    period = period.strip()
    if period and period[0].isalpha():
        period = "1" + period  # "s" is one second
    try:
        seconds = parse_duration(period, forever=False)
    except ValueError:
        raise ValueError(f"{text!r}: the period is not a duration (60s, 1m, 1h)") from None
    assert seconds is not None  # forever is refused
    return int(count), seconds
