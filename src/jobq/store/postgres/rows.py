"""Between PostgreSQL rows and domain records: uuid ids, timestamptz times, json columns
(decoded by psycopg)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Attempt, Backoff, DeadReason, ErrorInfo, Job, Outcome, ProcessInfo
from jobq.domain.states import JobState
from jobq.domain.tokens import ApiToken, Scope

COLUMN_NAMES = (
    "id, queue, type, payload, status, priority, run_at, attempt, max_attempts, timeout, "
    "backoff, result, last_error, dead_reason, worker_id, lease_expires_at, idempotency_key, "
    "created_at, started_at, finished_at, progress, progress_message"
)


def columns(alias: str) -> str:
    """The job columns, each qualified with ``alias`` (UPDATE ... FROM needs that)."""
    return ", ".join(f"{alias}.{name}" for name in COLUMN_NAMES.split(", "))


def as_uuid(job_id: str) -> uuid.UUID | None:
    """The id as PostgreSQL stores it; None if it is no UUID (so no job has it)."""
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


def _utc(value: datetime | None) -> datetime | None:
    # A caller's own connection (transactional enqueue) may use another time zone.
    return None if value is None else value.astimezone(UTC)


def _error(data: dict[str, Any] | None) -> ErrorInfo | None:
    if data is None:
        return None
    return ErrorInfo(type=data["type"], message=data["message"], traceback=data.get("traceback"))


def job_from_record(row: tuple[Any, ...]) -> Job:
    (
        id_,
        queue,
        type_,
        payload,
        status,
        priority,
        run_at,
        attempt,
        max_attempts,
        timeout,
        backoff,
        result,
        last_error,
        dead_reason,
        worker_id,
        lease_expires_at,
        idempotency_key,
        created_at,
        started_at,
        finished_at,
        progress,
        progress_message,
    ) = row
    return Job(
        id=JobId(str(id_)),
        queue=queue,
        type=type_,
        payload=payload,
        status=JobState(status),
        priority=priority,
        run_at=run_at.astimezone(UTC),
        attempt=attempt,
        max_attempts=max_attempts,
        timeout=timeout,
        backoff=None if backoff is None else Backoff(**backoff),
        result=result,
        last_error=_error(last_error),
        dead_reason=None if dead_reason is None else DeadReason(dead_reason),
        worker_id=None if worker_id is None else WorkerId(worker_id),
        lease_expires_at=_utc(lease_expires_at),
        idempotency_key=idempotency_key,
        created_at=created_at.astimezone(UTC),
        started_at=_utc(started_at),
        finished_at=_utc(finished_at),
        progress=progress,
        progress_message=progress_message,
    )


def attempt_from_record(row: tuple[Any, ...]) -> Attempt:
    job_id, attempt, worker_id, started_at, finished_at, outcome, error = row
    return Attempt(
        job_id=JobId(str(job_id)),
        attempt=attempt,
        worker_id=None if worker_id is None else WorkerId(worker_id),
        started_at=_utc(started_at),
        finished_at=_utc(finished_at),
        outcome=None if outcome is None else Outcome(outcome),
        error=_error(error),
    )


def process_from_record(row: tuple[Any, ...]) -> ProcessInfo:
    id_, host, pid, workers, busy, buffered, queues, started_at, seen_at = row
    return ProcessInfo(
        id=WorkerId(id_),
        host=host,
        pid=pid,
        workers=workers,
        busy=busy,
        buffered=buffered,
        queues=None if queues is None else tuple(queues),
        started_at=started_at.astimezone(UTC),
        seen_at=seen_at.astimezone(UTC),
    )


def token_from_record(row: tuple[Any, ...]) -> ApiToken:
    token_id, name, scope, secret_hash, created_at, revoked_at = row
    return ApiToken(
        token_id, name, Scope(scope), secret_hash, created_at.astimezone(UTC), _utc(revoked_at)
    )
