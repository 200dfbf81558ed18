"""Retention in every ``serve``/``worker`` process: finished jobs deleted once their time is up.

At start the process records the retention its job types declare (``Pruning.publish``); then
every ``interval`` seconds (jittered, so processes do not all sweep at once) it sweeps
(``jobq/pruning.py``): small batches, each its own short transaction. Processes that sweep at
the same time share the work; none is in charge, so none can die holding the role.
"""

from __future__ import annotations

import asyncio
import random
import time

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.states import JobState
from jobq.metrics import Metrics
from jobq.pruning import Pruning


class Pruner:
    """Sweep ``pruning``'s store every ``interval`` seconds (``PoolConfig.prune_interval``)."""

    name = "pruner"

    def __init__(
        self,
        pruning: Pruning,
        *,
        interval: float,
        log: FilteringBoundLogger,
        metrics: Metrics | None,
    ) -> None:
        self._pruning = pruning
        self._interval = interval
        self._log = log
        self._metrics = metrics
        self._published = False

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval * random.uniform(0.8, 1.2))
            await self.sweep()

    async def start(self) -> None:
        """Record this process's types' own retention (again at the next sweep if the store
        failed)."""
        try:
            await self._pruning.publish()
        except StoreError as exc:
            self._log.warning("retention_publish_failed", error=str(exc))
            return
        self._published = True

    async def sweep(self) -> int:
        """Delete what is due; return how many jobs. A store failure is logged and the next
        sweep goes on where this one stopped."""
        if not self._published:
            await self.start()
        began = time.monotonic()
        try:
            report = await self._pruning.prune(on_pruned=self._count, paced=True)
        except StoreError as exc:
            self._log.warning("prune_failed", error=str(exc))
            return 0
        if report.total:
            self._log.info(
                "jobs_pruned",
                count=report.total,
                **report.by_state(),
                seconds=round(time.monotonic() - began, 3),
            )
        return report.total

    def _count(self, queue: str, job_type: str, state: JobState, count: int) -> None:
        if self._metrics is not None:
            self._metrics.pruned.labels(queue, job_type, state.value).inc(count)
