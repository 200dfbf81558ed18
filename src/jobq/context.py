"""What a handler may know about the job it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from structlog.typing import FilteringBoundLogger

from jobq.domain.ids import JobId, WorkerId
from jobq.domain.job import Job


@dataclass(frozen=True, slots=True)
class JobContext:
    """Passed as the second argument to handlers that take two."""

    job: Job
    worker_id: WorkerId
    #: a logger already bound to the job's id, type, queue, attempt and worker id
    log: FilteringBoundLogger
    reporter: Callable[[float, str | None], None] | None = None

    @property
    def job_id(self) -> JobId:
        return self.job.id

    @property
    def attempt(self) -> int:
        return self.job.attempt

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Report how far this attempt has come (0 to 1) and what it is doing: stored with the
        job, shown by the API, the dashboard and ``jobq enqueue --wait``. Call it as often as
        you like, from ``async def`` or plain ``def`` handlers: it never blocks, and only the
        latest value is written."""
        if self.reporter is not None:
            self.reporter(fraction, message)
