"""Paused queues: a queue whose jobs no claim takes until it is resumed (or until a given
time). Jobs are still accepted into it, and its running jobs finish."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


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
