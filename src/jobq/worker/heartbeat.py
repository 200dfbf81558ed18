"""Keep the leases of claimed jobs alive while this process holds them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.job import Job
from jobq.store.base import JobStore


async def heartbeat_loop(
    store: JobStore,
    held: Callable[[], list[Job]],
    on_lost: Callable[[Job], None],
    *,
    interval: float,
    lease_seconds: float,
    log: FilteringBoundLogger,
) -> None:
    """Every ``interval`` seconds, extend the lease of every held job (buffered or running).

    A job missing from the store's answer is no longer ours: its lease expired and another
    worker took it, so ``on_lost`` is told; whatever this process writes for it is refused.
    """
    while True:
        await asyncio.sleep(interval)
        snapshot = held()
        if not snapshot:
            continue
        try:
            alive = await store.heartbeat(
                [job.lease for job in snapshot], lease_seconds=lease_seconds
            )
        except StoreError as exc:
            log.warning("heartbeat_failed", error=str(exc), leases=len(snapshot))
            continue
        for job in snapshot:
            if job.id not in alive:
                on_lost(job)
