"""``jq.limits``: how many jobs of a type or a queue may run at once, or start per period,
across the fleet (``domain/limits.py``).

Limits live in the store: the code's (published by every ``serve``/``worker`` process at its
start, for its own job types) and the settings made at run time here, which win. Every
process's claims keep to them from the moment a setting is written (SQLite) or within a
second (PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from jobq.domain.limits import Limit, Limits, LimitScope, Rate, ScopeLimits, limits_of
from jobq.names import check_name
from jobq.registry import Registry
from jobq.store.ports import LimitControl

logger = structlog.get_logger("jobq.limits")


class LimitSettings:
    """The limits of one store, and of this process's code."""

    def __init__(self, control: Callable[[], LimitControl], registry: Registry) -> None:
        self._control = control
        self._registry = registry

    async def publish(self) -> None:
        """Record the limits this code declares, for every process to keep to: those of its
        types that declare one, and none for the rest of its types (every pool does this at
        its start)."""
        await self._control().publish(self._registry.names(), self._registry.limits())

    async def set(
        self,
        scope: LimitScope | str,
        name: str,
        *,
        concurrency: Limit | int | None = None,
        rate: Rate | None = None,
    ) -> ScopeLimits:
        """Limit the type or queue ``name`` at run time (this wins over the code's limit until
        ``clear``); with neither ``concurrency`` nor ``rate``, lift the code's limit.
        ``ValueError``: a bad scope, name or limit."""
        scope = _scope(scope)
        check_name(name, what=f"{scope.value}" if scope is LimitScope.QUEUE else "job type")
        limits = limits_of(concurrency, rate)
        held = await self._control().set(scope, name, limits)
        logger.info("limit_set", scope=scope.value, name=name, **_log_fields(limits))
        return held

    async def clear(self, scope: LimitScope | str, name: str) -> bool:
        """Drop the run-time setting of ``name`` (the code's limit holds again); False if there
        was none (nothing changes)."""
        scope = _scope(scope)
        check_name(name, what=f"{scope.value}" if scope is LimitScope.QUEUE else "job type")
        cleared = await self._control().clear(scope, name)
        if cleared:
            logger.info("limit_cleared", scope=scope.value, name=name)
        return cleared

    async def list(self) -> list[ScopeLimits]:
        """Every type and queue with a limit in code or a setting, by scope and name."""
        return await self._control().limits()

    async def of(self, scope: LimitScope | str, name: str) -> ScopeLimits:
        """The limits of one type or queue (none if nothing limits it)."""
        scope = _scope(scope)
        found = {(held.scope, held.name): held for held in await self.list()}
        return found.get((scope, name)) or ScopeLimits(scope, name)


def _scope(scope: LimitScope | str) -> LimitScope:
    try:
        return LimitScope(scope)
    except ValueError:
        raise ValueError(f"a limit's scope is type or queue, not {scope!r}") from None


def _log_fields(limits: Limits) -> dict[str, object]:
    fields: dict[str, object] = {}
    if limits.concurrency is not None:
        fields["concurrency"] = limits.concurrency.count
        fields["concurrency_by"] = limits.concurrency.by
    if limits.rate is not None:
        fields["rate"] = limits.rate.count
        fields["rate_per"] = limits.rate.per
        fields["rate_by"] = limits.rate.by
    return fields
