"""PostgreSQL's values: uuid ids, timestamptz times (read in UTC, whatever the session's time
zone: a caller's own connection may use another), json columns decoded by psycopg."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from jobq.domain.ids import JobId
from jobq.store.common import JOB_COLUMN_NAMES, RowReader


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _decoded(value: Any) -> Any:
    return value


def _job_id(value: uuid.UUID) -> JobId:
    return JobId(str(value))


#: records from PostgreSQL rows
READ = RowReader(time=_utc, json=_decoded, job_id=_job_id)


def columns(alias: str) -> str:
    """The job columns, each qualified with ``alias`` (UPDATE ... FROM needs that)."""
    return ", ".join(f"{alias}.{name}" for name in JOB_COLUMN_NAMES)


def as_uuid(job_id: str) -> uuid.UUID | None:
    """The id as PostgreSQL stores it; None if it is no UUID (so no job has it)."""
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None
