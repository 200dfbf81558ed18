"""The JSON the HTTP API takes and gives, as pydantic models: shared by the API, ``jobq.Client``
and ``jobq enqueue --from-file``. Pydantic and the domain only, so a client or a worker process
that reads these never loads the web framework."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from jobq.domain.job import (
    DEFAULT_QUEUE,
    MAX_ATTEMPTS_LIMIT,
    MAX_DELAY,
    MAX_IDEMPOTENCY_KEY,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Attempt,
    Backoff,
    Job,
)
from jobq.domain.states import JobState
from jobq.domain.unique import Unique
from jobq.domain.workflows import MAX_DEPENDENCIES, WorkflowView
from jobq.names import MAX_NAME, NAME_PATTERN, check_name
from jobq.typed import EnqueueOptions

MAX_BATCH = 1000
#: what a job type or queue may be called, in the schema (``check_name`` enforces it)
NAME: dict[str, Any] = {"pattern": NAME_PATTERN, "minLength": 1, "maxLength": MAX_NAME}
#: a job type's and a queue's name, checked by ``check_name`` (``NAME`` says it in the schema)
JobTypeName = Annotated[str, AfterValidator(lambda value: check_name(value, what="job type"))]
QueueName = Annotated[str, AfterValidator(lambda value: check_name(value, what="queue"))]
MAX_TIMEOUT = 7 * 86400.0


class NewJobOptions(EnqueueOptions):
    """``JobQueue.new_job``'s arguments, by name, as a ``JobIn`` gives them (every one)."""

    type: str
    payload: dict[str, Any]


def field_path(loc: Sequence[str | int]) -> str:
    """``("body", "jobs", 3, "type")`` -> ``jobs[3].type``."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header") else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or (str(loc[0]) if loc else "request")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BackoffIn(_Strict):
    base_seconds: float = Field(2.0, ge=0, le=86400)
    max_seconds: float = Field(600.0, ge=0, le=30 * 86400)
    jitter: bool = True

    def to_domain(self) -> Backoff:
        return Backoff(
            base_seconds=self.base_seconds, max_seconds=self.max_seconds, jitter=self.jitter
        )


class UniqueIn(_Strict):
    """At most one such job at a time: an enqueue that meets one gets it back (200)."""

    key: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_IDEMPOTENCY_KEY,
        description="what makes jobs the same (default: the type and the payload)",
    )
    for_: float | None = Field(
        None,
        alias="for",
        ge=1,
        le=MAX_DELAY,
        description="seconds: one job per window of this length (windows start at multiples "
        "of it since the epoch); default: no window",
    )
    states: list[JobState] | None = Field(
        None,
        min_length=1,
        description="the states in which a job still counts as the same (must include "
        'pending; default: pending, running, failed; with "for": every state). '
        '["pending"]: a debounce',
    )

    on_conflict: Literal["keep", "replace"] = Field(
        "keep",
        description="meeting the job that holds the key: keep it as it is, or (replace) give "
        "it, while it is still pending, this job's payload and run time",
    )

    def to_domain(self) -> Unique:
        if self.states is None:
            return Unique(key=self.key, for_=self.for_, on_conflict=self.on_conflict)
        return Unique(
            key=self.key,
            for_=self.for_,
            states=frozenset(self.states),
            on_conflict=self.on_conflict,
        )


class JobIn(_Strict):
    """A job to enqueue."""

    model_config = ConfigDict(
        extra="forbid",
        # the schema says what ``_one_time`` checks: not a number delay and a run_at both
        json_schema_extra={
            "not": {
                "required": ["delay", "run_at"],
                "properties": {"delay": {"type": "number"}, "run_at": {"type": "string"}},
            }
        },
    )

    type: JobTypeName = Field(
        description="the job type; a handler must be registered for it", json_schema_extra=NAME
    )
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="a JSON object (integers of at most 100 digits, no NaN or Infinity)",
    )
    queue: QueueName = Field(DEFAULT_QUEUE, json_schema_extra=NAME)
    priority: int = Field(0, ge=PRIORITY_MIN, le=PRIORITY_MAX, description="higher runs first")
    delay: float | None = Field(None, ge=0, le=MAX_DELAY, description="seconds from now")
    run_at: AwareDatetime | None = Field(None, description="when it is due (with a timezone)")
    max_attempts: int | None = Field(None, ge=1, le=MAX_ATTEMPTS_LIMIT)
    timeout: float | None = Field(None, gt=0, le=MAX_TIMEOUT, description="seconds per attempt")
    backoff: BackoffIn | None = None
    idempotency_key: str | None = Field(None, min_length=1, max_length=MAX_IDEMPOTENCY_KEY)
    unique: UniqueIn | None = None
    depends_on: list[str] = Field(
        default_factory=list,
        max_length=MAX_DEPENDENCIES,
        description="ids of jobs it waits for: it is `waiting` until every one has succeeded",
    )
    on_dependency_failure: Literal["cancel", "run"] = Field(
        "cancel",
        description="a dependency that ends dead or cancelled cancels it (cancel), or it runs "
        "once every dependency has ended (run)",
    )

    @model_validator(mode="after")
    def _one_time(self) -> Self:
        if self.delay is not None and self.run_at is not None:
            raise ValueError("give delay or run_at, not both")
        return self

    def new_job_options(self, *, idempotency_key: str | None = None) -> NewJobOptions:
        """This job as ``JobQueue.new_job(**options)`` takes it, so it is checked and filled in as
        any job is. ``idempotency_key``: one given beside the body (a header), used if the body
        names none."""
        return NewJobOptions(
            type=self.type,
            payload=self.payload,
            queue=self.queue,
            priority=self.priority,
            delay=self.delay,
            run_at=self.run_at,
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            backoff=None if self.backoff is None else self.backoff.to_domain(),
            idempotency_key=self.idempotency_key or idempotency_key,
            unique=None if self.unique is None else self.unique.to_domain(),
            depends_on=list(self.depends_on),
            on_dependency_failure=self.on_dependency_failure,
        )


class BatchIn(_Strict):
    jobs: list[JobIn] = Field(min_length=1, max_length=MAX_BATCH)


class RetryDeadIn(_Strict):
    type: JobTypeName = Field(description="the job type", json_schema_extra=NAME)
    queue: QueueName | None = Field(None, description="only this queue", json_schema_extra=NAME)


class CancelManyIn(_Strict):
    """Which jobs to cancel: at least one of ``type``, ``queue`` and ``status``."""

    type: JobTypeName | None = Field(None, description="only this type", json_schema_extra=NAME)
    queue: QueueName | None = Field(None, description="only this queue", json_schema_extra=NAME)
    status: Literal["pending", "failed", "running"] | None = Field(
        None, description="only this state (default: any of the three)"
    )
    limit: int = Field(1_000, ge=1, le=10_000, description="cancel at most this many")

    @model_validator(mode="after")
    def _some_filter(self) -> Self:
        if self.type is None and self.queue is None and self.status is None:
            raise ValueError("say which jobs: a type, a queue or a status (or several)")
        return self


class CancelManyOut(BaseModel):
    cancelled: int = Field(description="jobs cancelled (running ones: their runs stopped)")
    more: bool = Field(description="jobs that match were left: the limit was reached")


class RetryDeadOut(BaseModel):
    retried: int = Field(description="dead jobs made pending again")


class ErrorOut(BaseModel):
    type: str
    message: str


class AttemptOut(BaseModel):
    attempt: int
    worker_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    outcome: str | None = Field(description="null while the attempt runs")
    error: ErrorOut | None
    traceback: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptOut:
        return cls(
            attempt=attempt.attempt,
            worker_id=attempt.worker_id,
            started_at=attempt.started_at,
            finished_at=attempt.finished_at,
            outcome=None if attempt.outcome is None else attempt.outcome.value,
            error=None
            if attempt.error is None
            else ErrorOut(type=attempt.error.type, message=attempt.error.message),
            traceback=None if attempt.error is None else attempt.error.traceback,
        )


class JobOut(BaseModel):
    id: str
    queue: str
    type: str
    payload: dict[str, Any]
    status: str
    priority: int
    run_at: datetime
    attempt: int
    max_attempts: int
    timeout: float | None
    backoff: dict[str, Any] | None
    result: Any
    last_error: ErrorOut | None
    dead_reason: str | None
    worker_id: str | None
    lease_expires_at: datetime | None
    idempotency_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: float | None = Field(None, description="0..1, as the handler last reported")
    progress_message: str | None = None
    workflow_id: str | None = Field(None, description="the workflow it belongs to, if any")
    parents: int = Field(0, description="how many jobs it depends on")

    @classmethod
    def of(cls, job: Job) -> JobOut:
        # Built without validation: every value comes from a Job, which the store typed.
        fields = job_document(job)
        error = fields["last_error"]
        if error is not None:
            fields["last_error"] = ErrorOut.model_construct(**error)
        return cls.model_construct(**fields)


def job_document(job: Job) -> dict[str, Any]:
    """``job`` in the shape of ``JobOut``, as plain values, for answers with many jobs:
    ``pydantic_core.to_json`` writes them as ``JobOut`` would (same datetime format) without a
    model built and dumped for every job."""
    error = job.last_error
    return {
        "id": job.id,
        "queue": job.queue,
        "type": job.type,
        "payload": job.payload,
        "status": job.status.value,
        "priority": job.priority,
        "run_at": job.run_at,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "timeout": job.timeout,
        "backoff": None if job.backoff is None else job.backoff.to_dict(),
        "result": job.result,
        "last_error": None if error is None else {"type": error.type, "message": error.message},
        "dead_reason": None if job.dead_reason is None else job.dead_reason.value,
        "worker_id": job.worker_id,
        "lease_expires_at": job.lease_expires_at,
        "idempotency_key": job.idempotency_key,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": job.progress,
        "progress_message": job.progress_message,
        "workflow_id": job.workflow_id,
        "parents": job.parents,
    }


class JobDetailOut(JobOut):
    attempts: list[AttemptOut]


class BatchOut(BaseModel):
    jobs: list[JobOut]
    created: int = Field(description="how many are new (the rest were found by idempotency key)")


class JobPageOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ProcessOut(BaseModel):
    id: str = Field(description="the pool's id (host:pid:random), as in worker_id")
    host: str
    pid: int
    workers: int
    busy: int
    buffered: int
    queues: list[str] | None = Field(description="the queues it works; null: every queue")
    types: list[str] | None = Field(
        None,
        description="the job types it has handlers for, the only ones it claims; null: not "
        "reported (a jobq that claimed every type)",
    )
    started_at: datetime
    seen_at: datetime


class TypeWaitingOut(BaseModel):
    type: str
    waiting: int = Field(description="due jobs of this type waiting for a worker")
    oldest_waiting_seconds: float = Field(description="how long the longest-waiting has waited")
    processes: int = Field(description="live worker processes that claim this type")
    unhandled: int = Field(
        description="waiting jobs that no live worker process claims (their type in their "
        "queue): they wait until one that has a handler for the type starts"
    )
    warning: str | None = Field(None, description="set when unhandled jobs wait")


class MinuteOut(BaseModel):
    minute: datetime = Field(description="the minute's start (UTC)")
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    interrupted: int = 0
    cancelled: int = 0


class PausedOut(BaseModel):
    queue: str
    paused_at: datetime
    until: datetime | None = Field(description="when it ends by itself; null: at a resume")


class StatsOut(BaseModel):
    counts: dict[str, dict[str, int]] = Field(description="queue -> status -> jobs")
    paused: list[PausedOut] = Field(
        default_factory=list, description="the queues paused now: no claim takes their jobs"
    )
    totals: dict[str, int] = Field(description="status -> jobs, every queue")
    workers: dict[str, int] | None = Field(description="this process's pool, if it runs one")
    processes: list[ProcessOut] = Field(
        default_factory=list, description="every worker pool heard from in the last 15 s"
    )
    throughput: list[MinuteOut] = Field(
        default_factory=list,
        description="attempts that ended in each of the last 60 minutes, oldest first",
    )
    oldest_waiting_seconds: float | None = Field(
        None, description="how long the longest-waiting due job has waited; null: none waits"
    )
    types: list[TypeWaitingOut] = Field(
        default_factory=list,
        description="due jobs by type, those no live worker process can run first",
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what is off across the fleet: job types whose live worker processes "
        "publish different payload schemas",
    )


def workflow_document(view: WorkflowView) -> dict[str, Any]:
    """A workflow as ``GET /workflows/{id}`` and ``jobq workflows show`` give it: its jobs,
    edges, counts by state, and a status (running until every job has ended; then succeeded
    if every one did, else failed)."""
    counts: dict[str, int] = {}
    for job in view.jobs:
        counts[job.status.value] = counts.get(job.status.value, 0) + 1
    ended = {JobState.SUCCEEDED.value, JobState.DEAD.value, JobState.CANCELLED.value}
    if any(state not in ended for state in counts):
        status = "running"
    else:
        status = "succeeded" if set(counts) == {JobState.SUCCEEDED.value} else "failed"
    return {
        "id": view.record.id,
        "name": view.record.name,
        "created_at": view.record.created_at,
        "status": status,
        "counts": counts,
        "jobs": [job_document(job) for job in view.jobs],
        "edges": [list(edge) for edge in view.edges],
    }
