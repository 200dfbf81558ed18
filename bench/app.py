"""The handlers the benchmarks run, loaded by worker processes as ``--app bench.app:registry``.

- ``noop``: returns at once (W1, W4, W5);
- ``sleep.async`` / ``sleep.thread``: ``asyncio.sleep`` / ``time.sleep`` for ``seconds`` (W2);
- ``stamp``: returns the wall-clock time its handler started, so the benchmark can read
  enqueue -> start latency from the job's result (W3).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from jobq.registry import Registry

registry = Registry()

#: in a process that runs ``stamp`` jobs itself, told each start time (W3 in process), so the
#: benchmark need not poll the store on the loop that runs the pool
on_stamp: Callable[[float], None] | None = None


@registry.job("noop", max_attempts=1)
async def noop(payload: dict[str, Any]) -> None:
    return None


@registry.job("sleep.async", max_attempts=1)
async def sleep_async(payload: dict[str, Any]) -> None:
    await asyncio.sleep(float(payload["seconds"]))


@registry.job("sleep.thread", max_attempts=1)
def sleep_thread(payload: dict[str, Any]) -> None:
    time.sleep(float(payload["seconds"]))


@registry.job("stamp", max_attempts=1)
async def stamp(payload: dict[str, Any]) -> float:
    now = time.time()
    if on_stamp is not None:
        on_stamp(now)
    return now
