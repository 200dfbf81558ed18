"""Stored schedules as rows, the same on both stores: the columns, a schedule's values, and a
row read back into a ``StoredSchedule``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from jobq.domain.errors import InvalidSchedule
from jobq.domain.jsonvalues import dumps, loads
from jobq.domain.schedule import Schedule, StoredSchedule, make_schedule

COLUMNS = (
    "name, job_type, cron, timezone, payload, queue, priority, missed, catch_up, "
    "created_at, updated_at"
)

logger = structlog.get_logger("jobq.store")


def values(schedule: Schedule) -> tuple[Any, ...]:
    """The schedule's values for the columns up to ``catch_up`` (the payload as JSON text)."""
    return (
        schedule.name,
        schedule.job_type,
        schedule.expression,
        schedule.timezone,
        dumps(dict(schedule.payload), what="payload"),
        schedule.queue,
        schedule.priority,
        schedule.missed.value,
        schedule.catch_up,
    )


def read(rows: Any, when: Callable[[Any], datetime]) -> list[StoredSchedule]:
    """The schedules of ``rows`` (in ``COLUMNS`` order; ``when`` reads a time). A row that no
    longer makes a valid schedule (its time zone left the time-zone database) is left out and
    logged, not fatal: the others still run."""
    found = []
    for row in rows:
        name, job_type, cron, timezone, payload, queue, priority, missed, catch_up = row[:9]
        try:
            schedule = make_schedule(
                job_type,
                cron,
                name=name,
                timezone=timezone,
                payload=loads(payload) if isinstance(payload, str) else payload,
                queue=queue,
                priority=priority,
                missed=missed,
                catch_up=catch_up,
                stored=True,
                version=when(row[10]),
            )
        except InvalidSchedule as exc:
            logger.error("schedule_unreadable", schedule=name, error=str(exc))
            continue
        found.append(
            StoredSchedule(schedule=schedule, created_at=when(row[9]), updated_at=when(row[10]))
        )
    return found
