"""SQLite's values: times as integer microseconds since the Unix epoch (UTC), JSON as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobq.domain.ids import JobId
from jobq.domain.jsonvalues import loads
from jobq.store.common import RowReader

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // _MICRO


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


#: records from SQLite rows
READ = RowReader(time=from_us, json=loads, job_id=JobId)
