"""A pool's side tasks (dispatcher, acknowledger, heartbeat, reaper, presence, listener, and
the maintenance services to come) run supervised: one that ends or raises while the pool is
not stopping is a failure of the pool, which then stops claiming (``failed``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from structlog.typing import FilteringBoundLogger


class Service(Protocol):
    """A loop that runs beside a pool's workers until cancelled."""

    name: str

    async def run(self) -> None: ...


class Supervisor:
    def __init__(self, log: FilteringBoundLogger, on_failure: Callable[[], None]) -> None:
        self._log = log
        self._on_failure = on_failure
        self._stopping = False
        self.failed = asyncio.Event()
        self.failure: BaseException | None = None

    def start(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"jobq-{name}")

        def done(finished: asyncio.Task[None]) -> None:
            if finished.cancelled() or self._stopping:
                return
            error = finished.exception()
            self.failure = error or RuntimeError(f"the {name} task ended")
            self._log.error("pool_failed", task=name, error=repr(self.failure))
            self.failed.set()
            self._on_failure()

        task.add_done_callback(done)
        return task

    def start_service(self, service: Service) -> asyncio.Task[None]:
        return self.start(service.run(), service.name)

    def stopping(self) -> None:
        """From now on a task that ends is part of the stop, not a failure."""
        self._stopping = True
