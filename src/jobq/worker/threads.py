"""Threads for plain ``def`` handlers.

Daemon threads, so a handler stuck in a blocking call cannot hold the process open at exit: its
job was handed back already, and the lease fence rejects anything it writes later. A thread is
started whenever none is free, so a handler that outlived its timeout never blocks the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Item = tuple[
    contextvars.Context,
    Callable[..., Any],
    tuple[Any, ...],
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
]


def _deliver(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller timed out or was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class HandlerThreads:
    def __init__(self, name: str = "jobq-handler") -> None:
        self._name = name
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._waiting = 0
        self._started = 0

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in a thread; cancelling the await does not stop the thread."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._waiting += 1
            if self._waiting > self._idle:
                self._started += 1
                threading.Thread(
                    target=self._serve, name=f"{self._name}-{self._started}", daemon=True
                ).start()
        self._queue.put((contextvars.copy_context(), fn, args, loop, future))
        return await future

    def _serve(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            item = self._queue.get()
            with self._lock:
                self._idle -= 1
                if item is not None:
                    self._waiting -= 1
            if item is None:
                return
            context, fn, args, loop, future = item
            result: Any = None
            error: BaseException | None = None
            try:
                result = context.run(fn, *args)
            except BaseException as exc:  # handed to the awaiting coroutine
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop closed while the handler ran
                loop.call_soon_threadsafe(_deliver, future, result, error)

    def close(self) -> None:
        """Let idle threads end; busy ones end after their handler returns."""
        with self._lock:
            count = self._started
        for _ in range(count):
            self._queue.put(None)
