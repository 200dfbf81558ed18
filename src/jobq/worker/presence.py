"""Tell the store this pool is alive and how busy it is, so ``/stats`` and the dashboard can
show every process, wherever it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.job import ProcessInfo
from jobq.store.ports import Presence

#: how often a pool reports itself; /stats lists pools heard from within STALE_AFTER
PRESENCE_INTERVAL = 5.0
STALE_AFTER = 3 * PRESENCE_INTERVAL


class PresenceReporter:
    """Report ``snapshot()`` now and every ``interval`` seconds until cancelled."""

    name = "presence"

    def __init__(
        self,
        presence: Presence,
        snapshot: Callable[[], ProcessInfo],
        *,
        interval: float,
        log: FilteringBoundLogger,
    ) -> None:
        self._presence = presence
        self._snapshot = snapshot
        self._interval = interval
        self._log = log

    async def run(self) -> None:
        while True:
            try:
                await self._presence.report(self._snapshot())
            except StoreError as exc:
                self._log.warning("presence_failed", error=str(exc))
            await asyncio.sleep(self._interval)
