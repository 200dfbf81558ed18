"""What every ``serve``/``worker`` process tells the store at its start, before its first claim:
the limits its job types declare in code (``jq.limits.publish``), so every process keeps to them,
and its job types with their schemas and options (``TypeCatalog.publish``), so that a process
without their code checks payloads against them. If the store fails then, it tries again every
``RETRY`` seconds until it is done. When the pool stops, its types are withdrawn."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

from structlog.typing import FilteringBoundLogger

from jobq.domain.errors import StoreError
from jobq.domain.ids import PoolId
from jobq.domain.published import TypeSpec
from jobq.registry import Registry
from jobq.store.ports import LimitControl, TypeCatalog

RETRY = 5.0
#: how long a stopping pool waits to withdraw its types (else they go when it is stale)
WITHDRAW_WITHIN = 5.0


class TypePublisher:
    name = "publisher"

    def __init__(
        self,
        limits: LimitControl,
        catalog: TypeCatalog,
        registry: Registry,
        pool: PoolId,
        log: FilteringBoundLogger,
        specs: Callable[[], Sequence[TypeSpec]] | None = None,
    ):
        self._limits = limits
        self._catalog = catalog
        self._registry = registry
        self._pool = pool
        self._log = log
        self._specs = specs or self._registry.specs
        self._limits_published = False
        self._types_published = False

    async def publish(self) -> bool:
        """Record the code's limits and the types; False if the store failed (logged)."""
        try:
            if not self._limits_published:
                declared = self._registry.limits()
                await self._limits.publish(self._registry.names(), declared)
                self._limits_published = True
                if declared:
                    self._log.info("limits_published", types=sorted(declared))
            if not self._types_published:
                specs = list(self._specs())
                await self._catalog.publish(self._pool, specs)
                self._types_published = True
                typed = sorted(s.name for s in specs if s.payload_digest is not None)
                self._log.info("types_published", types=len(specs), typed=typed)
        except StoreError as exc:
            self._log.warning("publish_failed", error=str(exc), retry_in=RETRY)
            return False
        return True

    async def run(self) -> None:
        while not (self._limits_published and self._types_published):
            await asyncio.sleep(RETRY)
            await self.publish()
        await asyncio.Event().wait()  # done: idle until the pool stops

    async def withdraw(self) -> None:
        """The pool stops: its types no longer count (a store that fails is left to staleness)."""
        with contextlib.suppress(StoreError, TimeoutError):
            await asyncio.wait_for(self._catalog.withdraw(self._pool), WITHDRAW_WITHIN)
