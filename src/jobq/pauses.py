"""``jq.pauses``: stopping and starting a queue's claims, fleet-wide (``domain/pauses.py``).

A pause is stored: every process's claims pass over the queue from the moment it is written
(SQLite) or within a second (PostgreSQL), and it outlives restarts. Enqueues into a paused
queue go on; its running jobs finish. A resume wakes the pools at once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from jobq.clock import Clock
from jobq.domain.pauses import QueuePause, check_until
from jobq.names import check_name
from jobq.store.ports import QueueControl

logger = structlog.get_logger("jobq.pauses")


class Pauses:
    """The paused queues of one store."""

    def __init__(
        self, control: Callable[[], QueueControl], clock: Clock, resumed: Callable[[], None]
    ) -> None:
        self._control = control
        self._clock = clock
        self._resumed = resumed  # wakes this process's pools

    async def pause(self, queue: str, *, until: datetime | None = None) -> QueuePause:
        """Pause ``queue`` until ``until`` (aware; None: until resumed). Pausing a paused
        queue again sets its new end. ``ValueError``: a bad name, an end already past or more
        than 10 years ahead."""
        check_name(queue, what="queue")
        if until is not None:
            check_until(until, self._clock.now())
        pause = await self._control().pause(queue, until=until)
        logger.info(
            "queue_paused",
            queue=queue,
            until=None if until is None else until.isoformat(),
        )
        return pause

    async def resume(self, queue: str) -> bool:
        """Lift ``queue``'s pause; False if it was not paused (nothing changes)."""
        check_name(queue, what="queue")
        held = await self._control().resume(queue)
        if held:
            logger.info("queue_resumed", queue=queue)
        self._resumed()
        return held

    async def list(self) -> list[QueuePause]:
        """The pauses that hold now, by queue name."""
        return await self._control().pauses()
