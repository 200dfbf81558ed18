"""Paused queues: a queue whose jobs no claim takes until it is resumed (or until a given
time). Jobs are still accepted into it, and its running jobs finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

#: a pause's end lies at most this far ahead (a longer one: pause until resumed)
MAX_PAUSE = timedelta(days=3660)


def check_until(until: datetime, now: datetime) -> datetime:
    """``until`` if it may end a pause made at ``now``; ``ValueError`` saying why not."""
    if until.tzinfo is None:
        raise ValueError("until must say its time zone (an aware datetime)")
    if until <= now:
        raise ValueError(f"until ({until.isoformat()}) has passed already")
    if until - now > MAX_PAUSE:
        raise ValueError("until must be within 10 years (to pause until a resume, give no until)")
    return until


@dataclass(frozen=True, slots=True)
class QueuePause:
    """``queue`` is paused since ``paused_at``, until ``until`` (None: until resumed)."""

    queue: str
    paused_at: datetime
    until: datetime | None = None

    def holds_at(self, moment: datetime) -> bool:
        """Is the queue still paused at ``moment``?"""
        return self.until is None or moment < self.until

    def to_dict(self) -> dict[str, str | None]:
        return {
            "queue": self.queue,
            "paused_at": self.paused_at.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
        }
