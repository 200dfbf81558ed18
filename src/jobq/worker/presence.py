"""Tell the store this pool is alive and how busy it is, so ``/stats`` and the dashboard can
show every process, wherever it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.job import ProcessInfo
from jobq.store.base import JobStore

#: how often a pool reports itself; /stats lists pools heard from within STALE_AFTER
PRESENCE_INTERVAL = 5.0
STALE_AFTER = 3 * PRESENCE_INTERVAL


async def presence_loop(
    store: JobStore,
    snapshot: Callable[[], ProcessInfo],
    *,
    interval: float,
    log: FilteringBoundLogger,
) -> None:
    """Report ``snapshot()`` now and every ``interval`` seconds until cancelled."""
    while True:
        try:
            await store.report_process(snapshot())
        except StoreError as exc:
            log.warning("presence_failed", error=str(exc))
        await asyncio.sleep(interval)
