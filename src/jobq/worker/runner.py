"""Run one claimed job: call its handler under its timeout, then record the outcome under the
job's lease. A ``False`` from the store means the lease was lost and nothing was written.

A success is handed to the ``Acknowledger``, which writes it with others in one batch; the
worker does not wait for it. A failure or a hand-back is written before the worker goes on.

Once the handler has returned, its outcome is written even if the worker is cancelled
meanwhile (the end of the shutdown grace): cutting that write short would leave a finished job
``running`` until its lease expired, and then run it again.

A run whose lease the heartbeat finds lost is stopped (``stopping.py``) and nothing of it is
written: no outcome, no hand-back, no more progress; it is logged as ``lease_lost`` and
counted. Until its outcome is on the way, that is: from then on the job leaving ``running``
is its own doing, not a loss (``leases.HeldJobs``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from structlog.typing import FilteringBoundLogger

from jobq.clock import Clock
from jobq.context import Dependency, JobContext
from jobq.domain.errors import InvalidJob, NonRetryableError
from jobq.domain.ids import WorkerId
from jobq.domain.job import DeadReason, ErrorInfo, Job, Lease
from jobq.domain.jsonvalues import as_unicode, dumps
from jobq.domain.retry import backoff_delay
from jobq.metrics import Metrics
from jobq.redaction import scrub, scrub_value, secret_values
from jobq.registry import JobType, Registry
from jobq.schemas import ShapeMismatch
from jobq.store.ports import Dependencies, Outcomes
from jobq.store.records import Completion, Failure
from jobq.worker.acks import Acknowledger
from jobq.worker.outcomes import Ack, ack_of, uninterrupted, with_retries
from jobq.worker.progress import ProgressReporter
from jobq.worker.stopping import LeaseLost, RunStop
from jobq.worker.threads import HandlerThreads

logger: FilteringBoundLogger = structlog.get_logger("jobq.worker")

T = TypeVar("T")


class JobTimeout(Exception):
    """The handler ran longer than the job's timeout."""


@dataclass(frozen=True, slots=True)
class _Failure:
    error: ErrorInfo
    retryable: bool


def _scrubbed(failure: _Failure, job: Job, job_type: JobType) -> _Failure:
    """``failure`` with the values of the job's secret payload fields cut out of its text."""
    values = secret_values(job.payload, job_type.secret) if job_type.secret else []
    if not values:
        return failure
    error = failure.error
    scrubbed = dataclasses.replace(
        error,
        message=scrub(error.message, values) or "",
        traceback=scrub(error.traceback, values),
    )
    return _Failure(scrubbed, failure.retryable)


def _stored_result(result: Any, job: Job, job_type: JobType) -> str | _Failure:
    """A handler's ``result`` as the store keeps it (JSON, held to the type's result schema,
    secrets cut out), or the failure of the attempt: ``InvalidResult``, retried if the result
    did not fit its schema (the handler may do better), not if it cannot be stored at all."""
    if job_type.result is not None:
        try:
            result = job_type.result.dump(result)
        except ShapeMismatch as exc:
            message = f"the result does not fit its type's schema: {exc}"
            error = ErrorInfo(type="InvalidResult", message=message)
            return _scrubbed(_Failure(error, True), job, job_type)
    if job_type.secret:
        result = scrub_value(result, secret_values(job.payload, job_type.secret))
    try:
        return dumps(result, what="the handler's result", path="result")
    except InvalidJob as exc:  # the result cannot be stored: the same next time
        return _Failure(ErrorInfo(type="InvalidResult", message=str(exc)), False)


def error_info(exc: BaseException) -> ErrorInfo:
    """What is recorded of ``exc``; a lone surrogate in its text (which no store can hold) is
    replaced with U+FFFD."""
    name = as_unicode(type(exc).__qualname__)
    return ErrorInfo(
        type=name,
        message=as_unicode(str(exc)) or name,
        traceback=as_unicode("".join(traceback.format_exception(exc))),
    )


class JobRunner:
    def __init__(
        self,
        outcomes: Outcomes,
        registry: Registry,
        *,
        clock: Clock,
        threads: HandlerThreads,
        metrics: Metrics | None = None,
        acks: Acknowledger,
        on_retry_scheduled: Callable[[datetime], None] | None = None,
        on_outcome: Callable[[Job], None] | None = None,
        on_acknowledged: Callable[[Job], None] | None = None,
        dependencies: Dependencies | None = None,
    ) -> None:
        self._outcomes = outcomes
        #: reads the jobs a job waited for (``ctx.dependencies``)
        self._dependencies = dependencies
        self._acks = acks
        # told when a success handed to the acknowledger has been written (or given up on)
        self._on_acknowledged = on_acknowledged
        self._registry = registry
        self._clock = clock
        self._threads = threads
        self._metrics = metrics
        self._on_retry_scheduled = on_retry_scheduled
        # told just before an attempt's outcome is written: from then on the job may leave
        # `running` at any moment, and a heartbeat that misses it has not lost it
        self._on_outcome = on_outcome
        #: jobs whose handler was interrupted at shutdown and that were handed back
        self.interrupted = 0
        self._runs: dict[Lease, RunStop] = {}  # the runs under way, by lease

    def lease_lost(self, lease: Lease, *, reason: str = "lease_lost") -> None:
        """The heartbeat found ``lease`` gone (``reason``: or the job was cancelled while it
        ran): stop its run, if one is under way."""
        run = self._runs.get(lease)
        if run is not None:
            run.stop(reason)

    async def run(self, job: Job, worker_id: WorkerId) -> bool:
        """Run ``job`` and record its outcome. False: its success is waiting to be written
        with the next batch, and ``on_acknowledged`` will say when that is done."""
        lease = job.lease
        stop = self._runs[lease] = RunStop()
        try:
            return await self._run(job, worker_id, stop)
        finally:
            del self._runs[lease]

    async def _run(self, job: Job, worker_id: WorkerId, stop: RunStop) -> bool:
        log = logger.bind(
            job_id=job.id,
            job_type=job.type,
            queue=job.queue,
            worker_id=worker_id,
            attempt=job.attempt,
        )
        started_at = self._clock.now()
        job_type = self._registry.get(job.type)
        if job_type is None:
            known = ", ".join(self._registry.names()) or "none"
            error = ErrorInfo(
                type="UnknownJobType",
                message=f"no handler for job type {job.type!r} in worker {worker_id} "
                f"(it knows: {known})",
            )
            await uninterrupted(
                self._fail(
                    job, worker_id, started_at, 0.0, error, log, reason=DeadReason.UNKNOWN_TYPE
                )
            )
            return True

        timeout = job.timeout if job.timeout is not None else job_type.timeout
        waited = (self._clock.now() - job.run_at).total_seconds()
        log.info("job_started", waited_ms=round(waited * 1000, 3))
        if self._metrics is not None:
            self._metrics.job_started(job.queue, job.type, waited)
        began = time.monotonic()
        try:
            payload = (
                job.payload if job_type.payload is None else job_type.payload.load(job.payload)
            )
            result = await self._call(job_type, job, payload, worker_id, log, stop, limit=timeout)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling() == 0:
                # The handler raised CancelledError itself: an ordinary failure.
                failure = _Failure(
                    ErrorInfo(type="CancelledError", message="handler cancelled"), retryable=True
                )
            elif stop.stopped:  # and shutdown ran out of grace: nothing to hand back
                self._stopped(job, began, log)
                raise
            else:
                # Shutdown ran out of grace: hand the job back without using the attempt.
                await uninterrupted(self._release(job, worker_id, started_at, log))
                raise
        except LeaseLost:
            self._stopped(job, began, log)
            return True
        except ShapeMismatch as exc:  # stored before its type's schema said otherwise
            message = f"payload does not fit its type's schema: {exc}"
            error = ErrorInfo(type="InvalidPayload", message=message)
            failure = _scrubbed(_Failure(error, False), job, job_type)
        except Exception as exc:
            failure = _scrubbed(self._classify(exc, job_type), job, job_type)
        else:
            if stop.stopped:  # the handler ended, but only after its lease was lost
                self._stopped(job, began, log)
                return True
            duration = time.monotonic() - began
            stored = _stored_result(result, job, job_type)
            if isinstance(stored, _Failure):
                failure = stored
            else:
                self._outcome_coming(job)
                self._acks.submit(
                    Completion(job.lease, stored, worker_id, started_at),
                    lambda ack: self._acknowledged(job, duration, ack, log),
                )
                return False
        if stop.stopped:
            self._stopped(job, began, log)
            return True
        self._outcome_coming(job)  # now, not when the write below gets going: no more stops
        await uninterrupted(
            self._after_failure(job, job_type, worker_id, started_at, began, failure, log)
        )
        return True

    async def _after_failure(
        self,
        job: Job,
        job_type: JobType,
        worker_id: WorkerId,
        started_at: datetime,
        began: float,
        failure: _Failure,
        log: FilteringBoundLogger,
    ) -> None:
        duration = time.monotonic() - began
        if failure.retryable and job.attempt < job.max_attempts:
            delay = backoff_delay(job.backoff or job_type.backoff, job.attempt)
            retry_at = self._clock.now() + timedelta(seconds=delay)
            await self._fail(
                job, worker_id, started_at, duration, failure.error, log, retry_at=retry_at
            )
            return
        reason = DeadReason.ATTEMPTS_EXHAUSTED if failure.retryable else DeadReason.NON_RETRYABLE
        await self._fail(job, worker_id, started_at, duration, failure.error, log, reason=reason)

    async def _call(
        self,
        job_type: JobType,
        job: Job,
        payload: Any,
        worker_id: WorkerId,
        log: FilteringBoundLogger,
        stop: RunStop,
        *,
        limit: float | None,
    ) -> Any:
        args: tuple[Any, ...] = (payload,)
        reporter = None
        cancel = None
        if job_type.takes_context:
            reporter = ProgressReporter(self._outcomes, job.lease, asyncio.get_running_loop(), log)
            stop.on_stop(reporter.close)  # nothing more of this run is written
            report = reporter.report
            secrets = secret_values(job.payload, job_type.secret) if job_type.secret else []
            if secrets:

                def report(fraction: float, message: str | None = None) -> None:
                    assert reporter is not None
                    reporter.report(fraction, scrub(message, secrets))

            ctx = JobContext(
                job=job,
                worker_id=worker_id,
                log=log,
                reporter=report,
                dependencies=await self._dependencies_of(job) if job.parents else [],
            )
            cancel = ctx.cancel_event
            stop.on_stop(cancel.set)  # `ctx.cancelled`
            args += (ctx,)
        deadline = asyncio.timeout(limit)
        try:
            with stop:
                async with deadline:
                    if job_type.is_async:
                        return await job_type.handler(*args)
                    return await self._threads.run(job_type.handler, *args)
        except TimeoutError as exc:
            if deadline.expired():
                if cancel is not None:
                    cancel.set()  # a `def` handler's thread may still be running: it may stop
                raise JobTimeout(f"the handler ran longer than its timeout of {limit} s") from exc
            raise
        except asyncio.CancelledError:
            if cancel is not None:
                cancel.set()  # shutdown: a `def` handler's thread may still be running
            raise
        finally:
            if reporter is not None:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    reporter.close()  # shutdown: the job is handed back, progress and all
                else:
                    await reporter.drain()  # the last report lands before the outcome

    async def _dependencies_of(self, job: Job) -> list[Dependency]:
        """The jobs ``job`` waited for, in one query, each result typed where its type's
        result schema is known here."""
        if self._dependencies is None:
            return []
        found = []
        for parent in await self._dependencies.parents(job.id):
            result = parent.result
            parent_type = self._registry.get(parent.type)
            if parent_type is not None and parent_type.result is not None:
                with contextlib.suppress(ShapeMismatch):  # stored by another version: as is
                    result = parent_type.result.load(result, root="result")
            found.append(Dependency(parent.id, parent.type, parent.status, result))
        return found

    @staticmethod
    def _classify(exc: Exception, job_type: JobType) -> _Failure:
        retryable = not isinstance(exc, NonRetryableError) and not (
            job_type.non_retryable and isinstance(exc, job_type.non_retryable)
        )
        return _Failure(error_info(exc), retryable)

    def _acknowledged(self, job: Job, duration: float, ack: Ack, log: FilteringBoundLogger) -> None:
        if ack is Ack.WRITTEN:
            log.info("job_succeeded", duration_ms=round(duration * 1000, 3))
        self._observe(job, "succeeded", duration, ack, log)
        if self._on_acknowledged is not None:
            self._on_acknowledged(job)

    async def _fail(
        self,
        job: Job,
        worker_id: WorkerId,
        started_at: datetime,
        duration: float,
        error: ErrorInfo,
        log: FilteringBoundLogger,
        *,
        retry_at: datetime | None = None,
        reason: DeadReason | None = None,
    ) -> None:
        """Record a failed attempt: due again at ``retry_at``, or dead for ``reason``."""
        self._outcome_coming(job)
        ack = ack_of(
            await with_retries(
                lambda: self._outcomes.fail(
                    Failure(
                        lease=job.lease,
                        error=error,
                        slot=worker_id,
                        started_at=started_at,
                        retry_at=retry_at,
                        dead_reason=reason,
                    )
                ),
                log,
            )
        )
        facts = {
            "error_type": error.type,
            "error": error.message,
            "duration_ms": round(duration * 1000, 3),
        }
        if ack is Ack.WRITTEN:
            log.warning("job_failed", **facts)
        if ack is Ack.WRITTEN and retry_at is not None:
            log.info("job_retry_scheduled", retry_at=retry_at.isoformat(), **facts)
            if self._on_retry_scheduled is not None:
                self._on_retry_scheduled(retry_at)
        elif ack is Ack.WRITTEN:
            log.error("job_dead", reason=(reason or DeadReason.ATTEMPTS_EXHAUSTED).value, **facts)
        self._observe(job, "failed" if retry_at is not None else "dead", duration, ack, log)

    async def _release(
        self, job: Job, worker_id: WorkerId, started_at: datetime, log: FilteringBoundLogger
    ) -> None:
        self._outcome_coming(job)
        ack = ack_of(
            await with_retries(
                lambda: self._outcomes.release(job.lease, slot=worker_id, started_at=started_at),
                log,
            )
        )
        if ack is Ack.WRITTEN:
            self.interrupted += 1
            log.warning("job_released", reason="shutdown", interrupted=True)

    def _stopped(self, job: Job, began: float, log: FilteringBoundLogger) -> None:
        """The run was stopped (or its result dropped): its lease was lost, or its job was
        cancelled; nothing written."""
        duration = time.monotonic() - began
        run = self._runs.get(job.lease)
        if run is not None and run.reason == "cancelled":
            log.info("run_cancelled", duration_ms=round(duration * 1000, 3))
            outcome = "cancelled"
        else:
            log.warning("lease_lost", run_stopped=True, duration_ms=round(duration * 1000, 3))
            outcome = Ack.LEASE_LOST.value
        if self._metrics is not None:
            self._metrics.job_finished(job.queue, job.type, outcome, duration)

    def _outcome_coming(self, job: Job) -> None:
        if self._on_outcome is not None:
            self._on_outcome(job)

    def _observe(
        self, job: Job, outcome: str, duration: float, ack: Ack, log: FilteringBoundLogger
    ) -> None:
        if ack is Ack.LEASE_LOST:
            log.warning("lease_lost", outcome_discarded=outcome)
        if self._metrics is not None:
            self._metrics.job_finished(
                job.queue, job.type, outcome if ack is Ack.WRITTEN else ack.value, duration
            )
