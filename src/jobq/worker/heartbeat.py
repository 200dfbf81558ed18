"""Keep the leases of claimed jobs alive while this process holds them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.job import Job
from jobq.store.ports import Claims


class Heartbeat:
    """Every ``interval`` seconds, extend the lease of every held job (buffered or running).

    A job missing from the store's answer is no longer ours: its lease expired and another
    worker took it, or an operator cancelled it, so ``on_lost`` is told; whatever this process
    writes for it is refused.
    """

    name = "heartbeat"

    def __init__(
        self,
        claims: Claims,
        held: Callable[[], list[Job]],
        on_lost: Callable[[list[Job]], Awaitable[None]],
        *,
        interval: float,
        lease_seconds: float,
        log: FilteringBoundLogger,
    ) -> None:
        self._claims = claims
        self._held = held
        self._on_lost = on_lost
        self._interval = interval
        self._lease_seconds = lease_seconds
        self._log = log

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.beat()

    async def beat(self) -> None:
        snapshot = self._held()
        if not snapshot:
            return
        try:
            alive = await self._claims.heartbeat(
                [job.lease for job in snapshot], lease_seconds=self._lease_seconds
            )
        except StoreError as exc:
            self._log.warning("heartbeat_failed", error=str(exc), leases=len(snapshot))
            return
        lost = [job for job in snapshot if job.id not in alive]
        if lost:
            await self._on_lost(lost)
