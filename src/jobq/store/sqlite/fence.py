"""The fence: every write after a claim changes the job only for the lease that owns it, and
an attempt's end is recorded only when its fenced update matched."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jobq.domain.job import ErrorInfo, Lease, Outcome
from jobq.domain.jsonvalues import dumps
from jobq.domain.states import Event, JobState, target
from jobq.store.sqlite.rows import to_us

RUNNING = JobState.RUNNING.value

FENCE = f"id = :job_id AND worker_id = :owner AND attempt = :attempt AND status = '{RUNNING}'"

# Lease triples arrive as one JSON array: one statement however many jobs there are.
LEASES_IN = """(id, worker_id, attempt) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(:leases)
)"""

# Back to pending without using the attempt (a hand-back at shutdown).
RELEASE_SET = f"""
SET status = '{target(Event.RELEASE).value}', attempt = attempt - 1, worker_id = NULL,
    lease_expires_at = NULL, started_at = NULL"""

INSERT_ATTEMPT = """
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
VALUES (:job_id, :attempt, :slot, :started_at, :now, :outcome, :error)
"""


def fence(lease: Lease) -> dict[str, Any]:
    return {"job_id": lease.job_id, "owner": lease.owner, "attempt": lease.attempt}


def leases_json(leases: Sequence[Lease]) -> str:
    return dumps([[lease.job_id, lease.owner, lease.attempt] for lease in leases], what="leases")


def attempt_row(
    lease: Lease,
    slot: str,
    started_at: datetime | int | None,
    now: int,
    outcome: Outcome,
    error: ErrorInfo | str | None,
) -> dict[str, Any]:
    """An attempt's record; ``started_at`` and ``error`` as given or already stored."""
    return {
        "job_id": lease.job_id,
        "attempt": lease.attempt,
        "slot": slot,
        "started_at": to_us(started_at) if isinstance(started_at, datetime) else started_at,
        "now": now,
        "outcome": outcome.value,
        "error": dumps(error.to_dict(), what="error") if isinstance(error, ErrorInfo) else error,
    }


def end_attempt(
    conn: sqlite3.Connection, update: str, params: dict[str, Any], attempt: dict[str, Any]
) -> bool:
    """Run the fenced ``update``; if it matched the job, record the attempt. False: the lease
    was lost and nothing was written."""
    if conn.execute(update, params).rowcount != 1:
        return False
    conn.execute(INSERT_ATTEMPT, attempt)
    return True
