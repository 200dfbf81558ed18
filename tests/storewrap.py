"""A real store seen through wrappers, for tests that make the store fail, stall or misbehave
at exact moments: each method named in ``around`` runs through ``around[name](method, *args,
**kwargs)``, whichever capability (``claims``, ``outcomes``, ...) holds it; everything else is
the real store's."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from jobq.domain.errors import StoreUnavailable
from jobq.store import Store

CAPABILITIES = (
    "enqueuer",
    "transactional",
    "claims",
    "outcomes",
    "expiry",
    "presence",
    "listener",
    "reads",
    "admin",
    "tokens",
)

Around = Callable[..., Awaitable[Any]]


class _Part:
    def __init__(self, inner: Any, around: dict[str, Around]) -> None:
        self._inner = inner
        self._around = around

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        hook = self._around.get(name)
        return target if hook is None else functools.partial(hook, target)


class Meddled:
    """``inner`` with the methods named in ``around`` wrapped. Pass it where a ``Store`` goes
    (a ``WorkerPool``, ``JobQueue._store``)."""

    def __init__(self, inner: Store, around: dict[str, Around] | None = None) -> None:
        self.inner = inner
        self.around: dict[str, Around] = dict(around or {})
        self._parts = {
            name: _Part(part, self.around)
            for name in CAPABILITIES
            if (part := getattr(inner, name)) is not None
        }

    def __getattr__(self, name: str) -> Any:
        part = self._parts.get(name)
        return part if part is not None else getattr(self.inner, name)


class FlakyStore(Meddled):
    """Chosen methods raise ``StoreUnavailable`` for their first n calls (``failures``, which
    a test may change as it goes); ``calls`` counts the calls of each."""

    def __init__(self, inner: Store, failures: dict[str, int]) -> None:
        self.failures = dict(failures)
        self.calls: dict[str, int] = {}
        super().__init__(inner, {name: functools.partial(self._flaky, name) for name in failures})

    async def _flaky(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.failures[name] > 0:
            self.failures[name] -= 1
            raise StoreUnavailable("injected: database is locked")
        return await method(*args, **kwargs)


class SlowStore(Meddled):
    """Chosen methods wait ``delays[name]`` seconds before they run, or, with ``answer_late``,
    do their work at once and wait before answering (as over a slow network: the change is
    committed, the caller not yet told)."""

    def __init__(
        self, inner: Store, delays: dict[str, float], *, answer_late: bool = False
    ) -> None:
        self.delays = delays
        self.answer_late = answer_late
        super().__init__(inner, {name: functools.partial(self._slow, name) for name in delays})

    async def _slow(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        if not self.answer_late:
            await asyncio.sleep(self.delays[name])
        answer = await method(*args, **kwargs)
        if self.answer_late:
            await asyncio.sleep(self.delays[name])
        return answer


def broken(inner: Store, name: str) -> Meddled:
    """``inner`` whose method ``name`` raises ``RuntimeError``: a bug in jobq itself."""

    async def bug(method: Around, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a bug in {name}")

    return Meddled(inner, {name: bug})
