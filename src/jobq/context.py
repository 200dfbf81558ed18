"""What a handler may know about the job it runs."""

from __future__ import annotations

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

    @property
    def job_id(self) -> JobId:
        return self.job.id

    @property
    def attempt(self) -> int:
        return self.job.attempt
