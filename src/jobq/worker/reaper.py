"""Bring back jobs whose worker vanished: any live process requeues expired leases."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.store.base import JobStore


async def reaper_loop(
    store: JobStore,
    *,
    interval: float,
    log: FilteringBoundLogger,
    metrics: Metrics | None,
    on_requeued: Callable[[], None],
) -> None:
    """Every ``interval`` seconds (jittered, so processes do not all scan at once), requeue
    running jobs whose lease has expired, or make them dead on their last attempt."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))
        try:
            expired = await store.requeue_expired()
        except StoreError as exc:
            log.warning("reaper_failed", error=str(exc))
            continue
        for job in expired:
            log.warning(
                "lease_expired",
                job_id=job.job_id,
                job_type=job.type,
                queue=job.queue,
                lost_worker_id=job.worker_id,
                attempt=job.attempt,
                status=job.status.value,
                reason="worker_lost" if job.status is JobState.DEAD else None,
            )
            if metrics is not None:
                metrics.leases_expired.labels(job.queue, job.type).inc()
        if expired:
            on_requeued()
