"""What became of a write after a job: written, refused because the lease was lost, or not
written because the store stayed unavailable; and the two ways such writes are made to last."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from enum import Enum
from typing import Any, TypeVar

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError

T = TypeVar("T")

# Writes after a job are retried while the store is briefly unavailable; after that the lease
# expires and the job runs again (at-least-once), which is better than blocking the worker.
WRITE_TRIES = 5
WRITE_FIRST_DELAY = 0.2


class Ack(Enum):
    WRITTEN = "written"
    LEASE_LOST = "lease_lost"  # another worker owns the job now; nothing was written
    NOT_WRITTEN = "not_written"  # the store stayed unavailable; the lease will expire


def ack_of(result: bool | None) -> Ack:
    if result is None:
        return Ack.NOT_WRITTEN
    return Ack.WRITTEN if result else Ack.LEASE_LOST


async def with_retries(write: Callable[[], Awaitable[T]], log: FilteringBoundLogger) -> T | None:
    """Run a store write, trying again while the store is unavailable; None if it never
    got through."""
    delay = WRITE_FIRST_DELAY
    for attempt in range(1, WRITE_TRIES + 1):
        try:
            return await write()
        except StoreError as exc:
            if attempt == WRITE_TRIES:
                log.error("ack_failed", error=str(exc), tries=attempt)
                break
            log.warning("ack_retry", error=str(exc), try_number=attempt)
            await asyncio.sleep(delay)
            delay *= 2
    return None


async def uninterrupted(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` to its end even if the caller is cancelled meanwhile; then re-raise the
    cancellation. For writes that must not be cut in half."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():  # the work itself was cancelled, or failed while we were
                raise
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result
