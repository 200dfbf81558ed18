"""Between SQLite rows and domain records: times as integer microseconds, JSON as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Attempt, Backoff, DeadReason, ErrorInfo, Job, Outcome, ProcessInfo
from jobq.domain.states import JobState
from jobq.domain.tokens import ApiToken, Scope
from jobq.store.codec import loads

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)

JOB_COLUMNS = (
    "id, queue, type, payload, status, priority, run_at, attempt, max_attempts, timeout, "
    "backoff, result, last_error, dead_reason, worker_id, lease_expires_at, idempotency_key, "
    "created_at, started_at, finished_at, progress, progress_message"
)


def to_us(moment: datetime) -> int:
    return (moment - EPOCH) // _MICRO


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def _maybe_time(value: int | None) -> datetime | None:
    return None if value is None else from_us(value)


def error_from(text: str | None) -> ErrorInfo | None:
    data = loads(text)
    if data is None:
        return None
    return ErrorInfo(type=data["type"], message=data["message"], traceback=data.get("traceback"))


def backoff_from(text: str | None) -> Backoff | None:
    data = loads(text)
    return None if data is None else Backoff(**data)


def job_from_row(row: tuple[Any, ...]) -> Job:
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
        id=JobId(id_),
        queue=queue,
        type=type_,
        payload=loads(payload),
        status=JobState(status),
        priority=priority,
        run_at=from_us(run_at),
        attempt=attempt,
        max_attempts=max_attempts,
        timeout=timeout,
        backoff=backoff_from(backoff),
        result=loads(result),
        last_error=error_from(last_error),
        dead_reason=None if dead_reason is None else DeadReason(dead_reason),
        worker_id=None if worker_id is None else WorkerId(worker_id),
        lease_expires_at=_maybe_time(lease_expires_at),
        idempotency_key=idempotency_key,
        created_at=from_us(created_at),
        started_at=_maybe_time(started_at),
        finished_at=_maybe_time(finished_at),
        progress=progress,
        progress_message=progress_message,
    )


def attempt_from_row(row: tuple[Any, ...]) -> Attempt:
    job_id, attempt, worker_id, started_at, finished_at, outcome, error = row
    return Attempt(
        job_id=JobId(job_id),
        attempt=attempt,
        worker_id=None if worker_id is None else WorkerId(worker_id),
        started_at=_maybe_time(started_at),
        finished_at=_maybe_time(finished_at),
        outcome=Outcome(outcome),
        error=error_from(error),
    )


def process_from_row(row: tuple[Any, ...]) -> ProcessInfo:
    id_, host, pid, workers, busy, buffered, queues, started_at, seen_at = row
    return ProcessInfo(
        id=WorkerId(id_),
        host=host,
        pid=pid,
        workers=workers,
        busy=busy,
        buffered=buffered,
        queues=None if queues is None else tuple(loads(queues)),
        started_at=from_us(started_at),
        seen_at=from_us(seen_at),
    )


def token_from_row(row: tuple[Any, ...]) -> ApiToken:
    token_id, name, scope, secret_hash, created_at, revoked_at = row
    return ApiToken(
        token_id, name, Scope(scope), secret_hash, from_us(created_at), _maybe_time(revoked_at)
    )
