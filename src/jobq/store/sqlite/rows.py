"""SQLite's values: times as integer microseconds since the Unix epoch (UTC), JSON as text."""

from __future__ import annotations

from jobq.domain.ids import JobId
from jobq.domain.jsonvalues import loads
from jobq.store.common import RowReader, from_us, to_us

__all__ = ["READ", "from_us", "to_us"]


#: records from SQLite rows
READ = RowReader(time=from_us, json=loads, job_id=JobId)
