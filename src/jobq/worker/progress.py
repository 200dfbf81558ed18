"""``ctx.progress``: what a running handler reports of itself, written under its lease.

A handler may report as often as it likes, from the event loop or from its thread; the
reporter keeps only the latest value and has at most one write in flight, so a tight loop
costs the store one write at a time, never a queue of them. Once closed (the run was stopped
or interrupted) it writes nothing more.
"""

from __future__ import annotations

import asyncio
import math

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.job import MAX_PROGRESS_MESSAGE, Lease
from jobq.domain.jsonvalues import as_unicode
from jobq.store.ports import Outcomes

DRAIN_SECONDS = 2.0


def check_progress(fraction: float, message: str | None) -> tuple[float, str | None]:
    """The value as stored (a lone surrogate in the message, which no store can hold, replaced
    with U+FFFD); ``ValueError`` for a fraction outside 0..1."""
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise ValueError(f"progress must be a number from 0 to 1, not {fraction!r}")
    if not (math.isfinite(fraction) and 0 <= fraction <= 1):
        raise ValueError(f"progress must be from 0 to 1, not {fraction!r}")
    if message is not None:
        message = as_unicode(str(message).replace("\x00", "")[:MAX_PROGRESS_MESSAGE])
    return float(fraction), message


class ProgressReporter:
    def __init__(
        self,
        outcomes: Outcomes,
        lease: Lease,
        loop: asyncio.AbstractEventLoop,
        log: FilteringBoundLogger,
    ) -> None:
        self._outcomes = outcomes
        self._lease = lease
        self._loop = loop
        self._log = log
        self._latest: tuple[float, str | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    def report(self, fraction: float, message: str | None = None) -> None:
        """Record the latest progress; safe from any thread, never blocks."""
        value = check_progress(fraction, message)
        if self._closed:  # (read from the handler's thread: at worst one more `_set` call)
            return
        # The value is set on the loop, the writer's own thread: a writer never clears a value
        # it has not seen.
        self._loop.call_soon_threadsafe(self._set, value)

    def _set(self, value: tuple[float, str | None]) -> None:
        if self._closed:
            return
        self._latest = value
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write())

    async def _write(self) -> None:
        while self._latest is not None:
            fraction, message = self._latest
            self._latest = None
            try:
                if not await self._outcomes.progress(self._lease, fraction, message):
                    return  # the lease is gone: nothing more of this attempt is recorded
            except StoreError as exc:
                self._log.warning("progress_failed", error=str(exc))
                return

    async def drain(self) -> None:
        """Let the last report reach the store before the outcome is written (bounded)."""
        await asyncio.sleep(0)  # run writers a thread scheduled just now
        if self._writer is not None and not self._writer.done():
            # (`wait`, not awaiting the writer: a writer cancelled by `close` is no error here)
            await asyncio.wait([self._writer], timeout=DRAIN_SECONDS)

    def close(self) -> None:
        """Write nothing more: cancel the write under way, drop reports to come."""
        self._closed = True
        self._latest = None
        if self._writer is not None:
            self._writer.cancel()
