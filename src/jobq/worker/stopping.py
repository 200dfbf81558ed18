"""Stopping a run whose lease was lost: another worker has the job now, so nothing this run
does may be recorded, and the sooner it stops, the less it does twice. A run whose job an
operator cancelled is stopped the same way: the cancel recorded its end already.

The pool calls ``RunStop.stop`` when its heartbeat finds the lease gone. While the handler is
awaited (inside ``with run_stop:``) the worker's task is cancelled, as ``asyncio.timeout``
cancels it, and the ``CancelledError`` leaves the block as ``LeaseLost``: an ``async def``
handler stops at its next ``await``; a ``def`` handler's thread runs on (threads cannot be
interrupted), told through ``ctx.cancelled``, and the worker stops waiting for it. Whatever the
handler returns or raises afterwards is dropped: the runner writes nothing once ``stopped``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType


class LeaseLost(Exception):
    """The run was stopped: its lease was lost."""


class RunStop:
    """One run of a handler, which the pool may stop (on the event loop, like every call here)."""

    __slots__ = ("_base", "_cancelled", "_on_stop", "_task", "reason", "stopped")

    def __init__(self) -> None:
        #: the lease was lost (or the job cancelled): nothing of this run is written
        self.stopped = False
        #: why: "lease_lost", or "cancelled" (an operator cancelled the running job)
        self.reason = "lease_lost"
        self._on_stop: list[Callable[[], None]] = []
        self._task: asyncio.Task[object] | None = None  # while the handler is awaited
        self._base = 0  # the task's cancellation requests when the block began
        self._cancelled = False  # this stop cancelled the task

    def on_stop(self, action: Callable[[], None]) -> None:
        """Call ``action`` when the run is stopped (at once if it is already)."""
        if self.stopped:
            action()
        else:
            self._on_stop.append(action)

    def stop(self, reason: str = "lease_lost") -> None:
        if self.stopped:
            return
        self.stopped = True
        self.reason = reason
        for action in self._on_stop:
            action()
        if self._task is not None:
            self._cancelled = True
            self._task.cancel()

    def __enter__(self) -> RunStop:
        if self.stopped:
            raise LeaseLost
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._base = task.cancelling()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if not self._cancelled or task is None:
            return
        self._cancelled = False
        # Our cancellation, not another's (a shutdown's may have come too): report it as
        # LeaseLost, and leave the task as uncancelled as it was before.
        ours = task.uncancel() <= self._base
        if ours and exc_type is not None and issubclass(exc_type, asyncio.CancelledError):
            raise LeaseLost from exc
