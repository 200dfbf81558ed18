"""The API writes jobs in bulk from plain documents (``job_document``) rather than a model
per job: the JSON must be what ``JobOut`` itself would write, field for field, in every state."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic_core import to_json

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Backoff, DeadReason, ErrorInfo, Job
from jobq.domain.states import JobState
from jobq.wire import JobOut, job_document

T = datetime(2026, 11, 29, 16, 47, 45, 491241, tzinfo=UTC)

PENDING = Job(
    id=JobId("01a22834-9952-72fd-8b09-28bc7e01ac7f"),
    queue="default",
    type="mail.send",
    payload={"to": "a@example.com", "n": [1, 2.5, None], "deep": {"x": {"y": True}}},
    status=JobState.PENDING,
    priority=-3,
    run_at=T,
    attempt=0,
    max_attempts=5,
    timeout=None,
    backoff=None,
    result=None,
    last_error=None,
    dead_reason=None,
    worker_id=None,
    lease_expires_at=None,
    idempotency_key=None,
    created_at=T,
    started_at=None,
    finished_at=None,
)
RUNNING = replace(
    PENDING,
    status=JobState.RUNNING,
    attempt=2,
    timeout=12.5,
    backoff=Backoff(base_seconds=1.5, max_seconds=90, jitter=False),
    worker_id=WorkerId("host:12:abc/w3"),
    lease_expires_at=T + timedelta(seconds=30),
    idempotency_key="key-1",
    started_at=T + timedelta(seconds=1),
    progress=0.25,
    progress_message="a quarter",
)
DEAD = replace(
    RUNNING,
    status=JobState.DEAD,
    worker_id=None,
    lease_expires_at=None,
    result={"partial": [1, "two"]},
    last_error=ErrorInfo(type="ValueError", message="bad: ünïcode", traceback="tb"),
    dead_reason=DeadReason.ATTEMPTS_EXHAUSTED,
    finished_at=T + timedelta(seconds=2),
)


@pytest.mark.parametrize("job", [PENDING, RUNNING, DEAD], ids=["pending", "running", "dead"])
def test_a_document_is_written_as_jobout_writes_it(job: Job) -> None:
    from_model = JobOut.of(job).model_dump_json()
    validated = JobOut.model_validate_json(from_model).model_dump_json()
    assert json.loads(to_json(job_document(job))) == json.loads(validated)
    assert to_json(job_document(job)).decode() == validated  # same bytes, same field order
