"""Limits in every ``serve``/``worker`` process: at its start, before its first claim, the pool
records the limits its job types declare in code (``jq.limits.publish``), so every process keeps
to them; if the store fails then, it tries again every ``RETRY`` seconds until it is done."""

from __future__ import annotations

import asyncio

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.registry import Registry
from jobq.store.ports import LimitControl

RETRY = 5.0


class LimitPublisher:
    name = "limits"

    def __init__(self, control: LimitControl, registry: Registry, log: FilteringBoundLogger):
        self._control = control
        self._registry = registry
        self._log = log
        self._published = False

    async def publish(self) -> bool:
        """Record the code's limits; False if the store failed (logged)."""
        declared = self._registry.limits()
        try:
            await self._control.publish(self._registry.names(), declared)
        except StoreError as exc:
            self._log.warning("limits_publish_failed", error=str(exc), retry_in=RETRY)
            return False
        if declared:
            self._log.info("limits_published", types=sorted(declared))
        self._published = True
        return True

    async def run(self) -> None:
        while not self._published:
            await asyncio.sleep(RETRY)
            await self.publish()
        await asyncio.Event().wait()  # done: idle until the pool stops
