"""A real store seen through wrappers, for tests that make the store fail, stall or misbehave
at exact moments: each method named in ``around`` runs through ``around[name](method, *args,
**kwargs)``, whichever capability (``claims``, ``outcomes``, ...) holds it; everything else is
the real store's."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from jobq.domain.errors import StoreUnavailable
from jobq.jobqueue import JobQueue
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
    """Chosen methods wait ``delays[name]`` seconds before they run (a store that is slow
    to answer, for tests about time limits such as a shutdown's grace)."""

    def __init__(self, inner: Store, delays: dict[str, float]) -> None:
        self.delays = delays
        super().__init__(inner, {name: functools.partial(self._slow, name) for name in delays})

    async def _slow(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(self.delays[name])
        return await method(*args, **kwargs)


class Watched(Meddled):
    """Counts the calls of the methods named, as they begin (``begun``) and as they return or
    raise (``ended``): a test waits for a call to be under way, or for its caller to have
    had its answer, instead of guessing how long that takes."""

    def __init__(self, inner: Store, names: Iterable[str]) -> None:
        self.begun: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        super().__init__(inner, {name: functools.partial(self._watch, name) for name in names})

    def idle(self, name: str) -> bool:
        """``name`` was called at least once and no call of it is under way."""
        return self.ended[name] >= 1 and self.begun[name] == self.ended[name]

    async def _watch(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        self.begun[name] += 1
        try:
            return await method(*args, **kwargs)
        finally:
            self.ended[name] += 1


class Gated(Meddled):
    """Calls of the methods named stop at a gate until the test opens it: ``arrived[name]`` is
    set when the first call of ``name`` reaches it. The test acts while the call is under way
    (stops the pool, say), then lets it go on."""

    def __init__(self, inner: Store, names: Iterable[str]) -> None:
        names = list(names)
        self.arrived = {name: asyncio.Event() for name in names}
        self._open = asyncio.Event()
        super().__init__(inner, {name: functools.partial(self._wait, name) for name in names})

    def open(self) -> None:
        self._open.set()

    async def _wait(self, name: str, method: Around, *args: Any, **kwargs: Any) -> Any:
        self.arrived[name].set()
        await self._open.wait()
        return await method(*args, **kwargs)


def broken(inner: Store, name: str) -> Meddled:
    """``inner`` whose method ``name`` raises ``RuntimeError``: a bug in jobq itself."""

    async def bug(method: Around, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"a bug in {name}")

    return Meddled(inner, {name: bug})


@contextlib.contextmanager
def meddling(jq: JobQueue, store: Meddled) -> Iterator[Meddled]:
    """Inside the block ``jq`` works through ``store`` (a wrapper of its own store): its own
    calls, and the pools it makes meanwhile (``jq.worker_pool``, ``jq.run``), which its
    enqueues still wake."""
    real = jq._store
    jq._store = store  # type: ignore[assignment]
    try:
        yield store
    finally:
        jq._store = real
