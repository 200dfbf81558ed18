"""Bring back jobs whose worker vanished: any live process requeues expired leases."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.store.ports import Expiry


class Reaper:
    """Every ``interval`` seconds (jittered, so processes do not all scan at once), requeue
    running jobs whose lease has expired, or make them dead on their last attempt."""

    name = "reaper"

    def __init__(
        self,
        expiry: Expiry,
        *,
        interval: float,
        log: FilteringBoundLogger,
        metrics: Metrics | None,
        on_requeued: Callable[[], None],
    ) -> None:
        self._expiry = expiry
        self._interval = interval
        self._log = log
        self._metrics = metrics
        self._on_requeued = on_requeued

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval * random.uniform(0.8, 1.2))
            await self.reap()

    async def reap(self) -> None:
        try:
            expired = await self._expiry.requeue_expired()
        except StoreError as exc:
            self._log.warning("reaper_failed", error=str(exc))
            return
        for job in expired:
            self._log.warning(
                "lease_expired",
                job_id=job.job_id,
                job_type=job.type,
                queue=job.queue,
                lost_worker_id=job.owner,
                attempt=job.attempt,
                status=job.status.value,
                reason="worker_lost" if job.status is JobState.DEAD else None,
            )
            if self._metrics is not None:
                self._metrics.leases_expired.labels(job.queue, job.type).inc()
        if expired:
            self._on_requeued()
