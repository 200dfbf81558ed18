"""Claimed jobs that no worker started go back to the store without using their attempts (at
shutdown, or claimed just as it began)."""

from __future__ import annotations

from structlog.typing import FilteringBoundLogger

from jobq.domain.job import Job
from jobq.store.ports import Claims
from jobq.worker.outcomes import with_retries


async def hand_back(claims: Claims, jobs: list[Job], log: FilteringBoundLogger) -> int:
    """Release ``jobs``; return how many were still held (and are now pending again)."""
    if not jobs:
        return 0
    released = await with_retries(
        lambda: claims.release_unstarted([job.lease for job in jobs]), log
    )
    if released is None:
        return 0
    for job in jobs:
        if job.id in released:
            log.info(
                "job_released",
                job_id=job.id,
                job_type=job.type,
                queue=job.queue,
                attempt=job.attempt,
                reason="shutdown",
                interrupted=False,
            )
    return len(released)
