"""What both stores share: the mapping from rows to records (each driver's values read by a
``RowReader`` of converters), the batch of new jobs as one JSON array, what an enqueue returns
(idempotency keys included), how a failure lands, and why a state change was refused."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from jobq.domain.errors import (
    IdempotencyConflict,
    IllegalTransition,
    InvalidJob,
    JobNotFound,
    StoreUnavailable,
)
from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.job import (
    Attempt,
    Backoff,
    DeadReason,
    EnqueueResult,
    ErrorInfo,
    Job,
    NewJob,
    Outcome,
    ProcessInfo,
)
from jobq.domain.jsonvalues import compact, dumps, is_unicode, loads, not_unicode
from jobq.domain.states import Event, JobState, target, transition
from jobq.domain.tokens import ApiToken, Scope
from jobq.store.records import Failure, JobFilter

#: the columns of a job, in the order ``RowReader.job`` reads them
JOB_COLUMN_NAMES = (
    "id", "queue", "type", "payload", "status", "priority", "run_at", "attempt", "max_attempts",
    "timeout", "backoff", "result", "last_error", "dead_reason", "worker_id", "lease_expires_at",
    "idempotency_key", "created_at", "started_at", "finished_at", "progress", "progress_message",
    "workflow_id", "parents",
)  # fmt: skip
JOB_COLUMNS = ", ".join(JOB_COLUMN_NAMES)
ATTEMPT_COLUMNS = "job_id, attempt, worker_id, started_at, finished_at, outcome, error"
PROCESS_COLUMNS = "id, host, pid, workers, busy, buffered, queues, started_at, seen_at, types"
TOKEN_COLUMNS = "id, name, scope, secret_hash, created_at, revoked_at"

#: times kept as integer microseconds (SQLite's columns, a rate's windows) count from here
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the Unix epoch."""
    return (moment - EPOCH) // _MICRO


def from_us(value: int) -> datetime:
    """The moment ``value`` microseconds after the Unix epoch, in UTC."""
    return EPOCH + timedelta(microseconds=value)


@dataclass(frozen=True, slots=True)
class RowReader:
    """Records from one driver's rows. ``time``: a stored time as an aware UTC datetime;
    ``json``: a JSON column as its value (the driver may have decoded it already); ``job_id``:
    a stored id as a ``JobId``."""

    time: Callable[[Any], datetime]
    json: Callable[[Any], Any]
    job_id: Callable[[Any], JobId]

    def _maybe_time(self, value: Any) -> datetime | None:
        return None if value is None else self.time(value)

    def _error(self, value: Any) -> ErrorInfo | None:
        data = self.json(value)
        if data is None:
            return None
        return ErrorInfo(
            type=data["type"], message=data["message"], traceback=data.get("traceback")
        )

    def job(self, row: Sequence[Any]) -> Job:
        (
            id_, queue, type_, payload, status, priority, run_at, attempt, max_attempts, timeout,
            backoff, result, last_error, dead_reason, worker_id, lease_expires_at,
            idempotency_key, created_at, started_at, finished_at, progress, progress_message,
            workflow_id, parents,
        ) = row  # fmt: skip
        backoff_data = self.json(backoff)
        return Job(
            id=self.job_id(id_),
            queue=queue,
            type=type_,
            payload=self.json(payload),
            status=JobState(status),
            priority=priority,
            run_at=self.time(run_at),
            attempt=attempt,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff=None if backoff_data is None else Backoff(**backoff_data),
            result=self.json(result),
            last_error=self._error(last_error),
            dead_reason=None if dead_reason is None else DeadReason(dead_reason),
            worker_id=None if worker_id is None else PoolId(worker_id),
            lease_expires_at=self._maybe_time(lease_expires_at),
            idempotency_key=idempotency_key,
            created_at=self.time(created_at),
            started_at=self._maybe_time(started_at),
            finished_at=self._maybe_time(finished_at),
            progress=progress,
            progress_message=progress_message,
            workflow_id=workflow_id,
            parents=parents,
        )

    def attempt(self, row: Sequence[Any]) -> Attempt:
        job_id, attempt, worker_id, started_at, finished_at, outcome, error = row
        return Attempt(
            job_id=self.job_id(job_id),
            attempt=attempt,
            worker_id=None if worker_id is None else WorkerId(worker_id),
            started_at=self._maybe_time(started_at),
            finished_at=self._maybe_time(finished_at),
            outcome=None if outcome is None else Outcome(outcome),
            error=self._error(error),
        )

    def process(self, row: Sequence[Any]) -> ProcessInfo:
        id_, host, pid, workers, busy, buffered, queues, started_at, seen_at, types = row
        queue_names = self.json(queues)
        type_names = self.json(types)
        return ProcessInfo(
            id=PoolId(id_),
            host=host,
            pid=pid,
            workers=workers,
            busy=busy,
            buffered=buffered,
            queues=None if queue_names is None else tuple(queue_names),
            started_at=self.time(started_at),
            seen_at=self.time(seen_at),
            types=None if type_names is None else tuple(type_names),
        )

    def token(self, row: Sequence[Any]) -> ApiToken:
        token_id, name, scope, secret_hash, created_at, revoked_at = row
        return ApiToken(
            token_id,
            name,
            Scope(scope),
            secret_hash,
            self.time(created_at),
            self._maybe_time(revoked_at),
        )


def new_job_rows(
    ids: Sequence[str],
    jobs: Sequence[NewJob],
    payloads: Sequence[str],
    run_ats: Sequence[int | str | None],
) -> str:
    """A batch to enqueue as one JSON array of [id, queue, type, payload (encoded), priority,
    run_at (as the store writes times; None: now), max_attempts, timeout, backoff (encoded),
    idempotency_key, unique_key, unique_states (, workflow_id, parents, on_dependency_failure)]
    rows, which the database unpacks in one
    INSERT: encoded here in C rather than bound as one statement per job or typed arrays.
    ``InvalidJob`` if a name or key is not valid Unicode (a ``NewJob`` made without
    ``JobQueue.new_job``'s checks)."""
    rows = compact(
        [
            [
                job_id,
                job.queue,
                job.type,
                payload,
                job.priority,
                run_at,
                job.max_attempts,
                None if job.timeout is None else float(job.timeout),
                None if job.backoff is None else dumps(job.backoff.to_dict(), what="backoff"),
                job.idempotency_key,
                job.unique_key,
                job.unique_states,
                # only for a job that waits or is in a workflow: [12] its workflow, [13] how
                # many jobs it depends on (it is stored waiting for all), [14] its policy
                *(
                    (job.workflow_id, len(job.depends_on), job.on_dependency_failure)
                    if job.depends_on or job.workflow_id
                    else ()
                ),
            ]
            for job_id, job, payload, run_at in zip(ids, jobs, payloads, run_ats, strict=True)
        ]
    )
    if not is_unicode(rows):  # the payloads were checked: a type, queue or key
        for index, job in enumerate(jobs):
            for name in ("type", "queue", "idempotency_key"):
                value = getattr(job, name)
                if value is not None and not is_unicode(value):
                    where = f"jobs[{index}].{name}" if len(jobs) > 1 else name
                    raise InvalidJob(not_unicode(where))
    return rows


def encode_payloads(jobs: Sequence[NewJob]) -> list[str]:
    """Each job's payload as JSON (``dumps``); in a batch, ``InvalidJob`` names the job."""
    if len(jobs) == 1:
        return [dumps(jobs[0].payload, what="payload")]
    encoded = []
    for index, job in enumerate(jobs):
        try:
            encoded.append(dumps(job.payload, what="payload"))
        except InvalidJob as exc:
            raise InvalidJob(f"jobs[{index}]: {exc}") from exc
    return encoded


def missing_keys(
    jobs: Sequence[NewJob], ids: Sequence[str], inserted: Mapping[str, Any]
) -> list[str]:
    """The idempotency keys of the jobs that were not inserted: each names a job already."""
    return [
        job.idempotency_key
        for job, job_id in zip(jobs, ids, strict=True)
        if job_id not in inserted and job.idempotency_key is not None
    ]


#: how many times an enqueue inserts again the jobs whose unique key's holder left its unique
#: states between the insert and the look-up (PostgreSQL; SQLite has one writer)
UNIQUE_ROUNDS = 3


def _kept_out_by_unique(
    job: NewJob, job_id: str, inserted: Mapping[str, Any], existing: Mapping[str, Job]
) -> bool:
    """``job`` was not inserted, its idempotency key named no job, and it has a unique key:
    a unique job may hold that key."""
    return (
        job_id not in inserted
        and job.unique_key is not None
        and job.idempotency_key not in existing
    )


def missing_unique_keys(
    jobs: Sequence[NewJob],
    ids: Sequence[str],
    inserted: Mapping[str, Any],
    existing: Mapping[str, Job],
) -> list[str]:
    """The unique keys of the jobs that were not inserted and whose idempotency key named no
    job (``existing``): a unique job may hold each."""
    return [
        job.unique_key
        for job, job_id in zip(jobs, ids, strict=True)
        if job.unique_key is not None and _kept_out_by_unique(job, job_id, inserted, existing)
    ]


def orphans(
    jobs: Sequence[NewJob],
    ids: Sequence[str],
    todo: Sequence[int],
    inserted: Mapping[str, Any],
    existing: Mapping[str, Job],
    holders: Mapping[str, Job],
) -> list[int]:
    """The jobs of ``todo`` (indexes) not inserted for a unique key that no job holds now."""
    return [
        i
        for i in todo
        if _kept_out_by_unique(jobs[i], ids[i], inserted, existing)
        and jobs[i].unique_key not in holders
    ]


def unique_replacements(
    jobs: Sequence[NewJob],
    ids: Sequence[str],
    payloads: Sequence[str],
    run_ats: Sequence[Any],
    inserted: Mapping[str, Any],
    existing: Mapping[str, Job],
    holders: Mapping[str, Job],
) -> list[tuple[str, str, str, Any]]:
    """(unique key, holder id, payload, run_at) for each job not inserted that asks to replace
    its pending holder's payload and run time (``run_at`` as the store takes it); not for a
    job its idempotency key found (a repeat changes nothing)."""
    found: list[tuple[str, str, str, Any]] = []
    for job, job_id, payload, run_at in zip(jobs, ids, payloads, run_ats, strict=True):
        if job.unique_key is None or not job.unique_replace:
            continue
        if not _kept_out_by_unique(job, job_id, inserted, existing):
            continue
        holder = holders.get(job.unique_key)
        if holder is not None and holder.status is JobState.PENDING:
            found.append((job.unique_key, str(holder.id), payload, run_at))
    return found


def by_key(jobs: Iterable[Job]) -> dict[str, Job]:
    """Jobs found by their idempotency keys, by key."""
    return {job.idempotency_key: job for job in jobs if job.idempotency_key is not None}


def enqueue_results(
    jobs: Sequence[NewJob],
    ids: Sequence[str],
    payloads: Sequence[str],
    inserted: Mapping[str, tuple[datetime, datetime]],
    existing: Mapping[str, Job],
    holders: Mapping[str, Job] | None = None,
) -> list[EnqueueResult]:
    """What an enqueue returns: each job as stored (``inserted``: its id -> run_at and
    created_at), or the job its idempotency key already names (``existing``: key -> job), or
    the unique job that holds its unique key (``holders``: unique key -> job).
    Raises ``IdempotencyConflict`` (the caller's transaction then rolls back the whole batch)
    if the job of its idempotency key asks for another type, queue or payload."""
    results = []
    for new, job_id, payload in zip(jobs, ids, payloads, strict=True):
        times = inserted.get(job_id)
        if times is not None:
            run_at, created_at = times
            job = new.stored(
                JobId(job_id), payload=loads(payload), run_at=run_at, created_at=created_at
            )
            results.append(EnqueueResult(job, created=True))
            continue
        if new.idempotency_key not in existing:  # a unique job holds its unique key
            holder = None if new.unique_key is None else (holders or {}).get(new.unique_key)
            if holder is None:  # left its states again and again while this batch was written
                raise StoreUnavailable(
                    "the unique jobs that held this job's key kept finishing while it was "
                    "written; try again"
                )
            results.append(EnqueueResult(holder, created=False, unique_hit=True))
            continue
        assert new.idempotency_key is not None
        found = existing[new.idempotency_key]
        differs = new.differences(found)
        if differs:
            raise IdempotencyConflict(
                f"idempotency key {new.idempotency_key!r} already names job "
                f"{found.id}, which differs in {', '.join(differs)}"
            )
        results.append(EnqueueResult(found, created=False))
    return results


def failure_state(failure: Failure) -> tuple[JobState, DeadReason | None]:
    """Where a failed attempt leaves its job: failed (due again at ``retry_at``), or dead, for
    ``dead_reason`` or, by default, because its attempts are used up."""
    if failure.retry_at is not None:
        return target(Event.FAIL), None
    return target(Event.DIE), failure.dead_reason or DeadReason.ATTEMPTS_EXHAUSTED


def process_row(info: ProcessInfo, time: Callable[[datetime], Any]) -> dict[str, Any]:
    """A pool's report as a store writes it; ``time``: how that store writes a time."""
    return {
        "id": info.id,
        "host": info.host,
        "pid": info.pid,
        "workers": info.workers,
        "busy": info.busy,
        "buffered": info.buffered,
        "queues": None if info.queues is None else dumps(list(info.queues), what="queues"),
        "types": None if info.types is None else dumps(list(info.types), what="types"),
        "started_at": time(info.started_at),
    }


def filter_values(where: JobFilter) -> list[tuple[str, str]]:
    """The (column, value) pairs a job list is filtered by."""
    pairs = (
        ("status", None if where.status is None else where.status.value),
        ("type", where.type),
        ("queue", where.queue),
    )
    return [(column, value) for column, value in pairs if value is not None]


def refusal(
    job_id: JobId, status: str | None, event: Event, *, only_from: str | None = None
) -> Exception:
    """Why an admin change of ``job_id`` matched no row: no such job (``JobNotFound``), or its
    state (``status``, read after the change failed) does not allow ``event``, or is not
    ``only_from``, the one the change asked for (``IllegalTransition``, with the reason)."""
    if status is None:
        return JobNotFound(f"no job has the id {job_id}")
    try:
        transition(JobState(status), event)
    except IllegalTransition as exc:
        return exc
    if only_from is not None and status != only_from:
        return IllegalTransition(
            f"the job is {status} now, no longer {only_from}: left as it is", state=status
        )
    return AssertionError("unreachable: the update matched no row, yet the state allows it")
