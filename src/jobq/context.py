"""What a handler may know about the job it runs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from structlog.typing import FilteringBoundLogger

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Job
from jobq.domain.states import JobState


@dataclass(frozen=True, slots=True)
class Dependency:
    """A job this one waited for (``depends_on``, workflows), as it ended."""

    job_id: JobId
    type: str
    status: JobState
    #: its result: the handler's return type where this process knows the type's result
    #: schema, else the JSON it returned (None if it did not succeed)
    result: Any


@dataclass(frozen=True, slots=True)
class JobContext:
    """Passed as the second argument to handlers that take two."""

    job: Job
    worker_id: WorkerId
    #: a logger already bound to the job's id, type, queue, attempt and worker id
    log: FilteringBoundLogger
    reporter: Callable[[float, str | None], None] | None = None
    #: set by the worker when this run is cancelled (read it through ``cancelled``)
    cancel_event: threading.Event = field(default_factory=threading.Event, repr=False)
    #: the jobs it waited for, by id order, read in one query before the handler runs
    dependencies: list[Dependency] = field(default_factory=list)

    def results(self, job_type: object) -> list[Any]:
        """The results of the jobs it waited for of ``job_type`` (a name or a ``TypedJob``),
        by id order: typed where the type's handler is."""
        name = job_type if isinstance(job_type, str) else getattr(job_type, "name", job_type)
        return [d.result for d in self.dependencies if d.type == name]

    @property
    def job_id(self) -> JobId:
        return self.job.id

    @property
    def attempt(self) -> int:
        return self.job.attempt

    @property
    def cancelled(self) -> bool:
        """True once this run is cancelled and nothing it does will be recorded: its lease was
        lost (another worker has the job now), it ran past its timeout, or the worker's
        shutdown grace ran out. An ``async def`` handler is also cancelled (``CancelledError``
        at its next ``await``); a plain ``def`` handler runs on in its thread, so it should
        check this, or wait with ``wait_cancelled``, and return early."""
        return self.cancel_event.is_set()

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block the calling thread until this run is cancelled, or for at most ``timeout``
        seconds (None: no limit); True if it was cancelled. For plain ``def`` handlers, in
        place of ``time.sleep``: ``if ctx.wait_cancelled(5): return``."""
        return self.cancel_event.wait(timeout)

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far this attempt has come (0 to 1) and what it is doing: stored with the
        job, shown by the API, the dashboard and ``jobq enqueue --wait``. Call it as often as
        you like, from ``async def`` or plain ``def`` handlers: it never blocks, and only the
        latest value is written (nothing once the run is cancelled)."""
        if self.reporter is not None:
            self.reporter(fraction, message)
