"""What every driver of the peer benchmark shares (``driver_*.py``): the handlers' record, the
timed client loops and the command line. Standard library only: the peers' drivers import it
in their own environments (as ``common``, with this folder on the path), jobq's as
``bench.peers.common``.

A driver runs ``python -m driver_x ACTION TARGET [N [KIND]]`` and prints one JSON object:

- ``setup``: an empty store;
- ``fill N KIND``: N jobs of KIND (``noop``, or ``sleep10``: 10 ms), in batches where the queue
  has a batch call;
- ``enqueue-batch N``: the same with no-op jobs, timed: ``jobs_per_s``;
- ``enqueue-one N``: N no-op jobs one call each, timed: ``p50_ms``, ``p99_ms``;
- ``latency N``: N jobs one at a time, each 20 to 300 ms (at random) after the last started,
  with a worker idle: enqueue -> handler start, read from the tally pipe
  (``BENCH_TALLY_READ_FD``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import select
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

RECORD = struct.Struct("<d")
BATCH = 1_000
_FD = int(os.environ.get("BENCH_TALLY_FD", "-1"))


def record() -> None:
    """In a handler, first thing: tell the benchmark this job started (``tally.py``)."""
    if _FD >= 0:
        os.write(_FD, RECORD.pack(time.time()))


def _read_record(fd: int, timeout: float = 30.0) -> bytes:
    """One record from the tally pipe; ``TimeoutError`` if none comes (a dead worker)."""
    readable, _, _ = select.select([fd], [], [], timeout)
    if not readable:
        raise TimeoutError(f"no job started within {timeout:g} s")
    return os.read(fd, RECORD.size)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class Client:
    """One queue's client calls, as the driver's ``main`` gives them."""

    setup: Callable[[], Awaitable[None]]
    #: store ``count`` jobs of ``kind`` (numbered from ``first``) in one call where it can
    enqueue_batch: Callable[[str, int, int], Awaitable[None]]
    enqueue_one: Callable[[int], Awaitable[None]]


async def run(action: str, count: int, kind: str, client: Client) -> dict[str, float]:
    if action == "setup":
        await client.setup()
        return {}
    if action in ("fill", "enqueue-batch"):
        began = time.perf_counter()
        for first in range(0, count, BATCH):
            await client.enqueue_batch(kind, first, min(BATCH, count - first))
        return {"jobs_per_s": count / (time.perf_counter() - began)}
    if action == "enqueue-one":
        took = []
        for n in range(count):
            began = time.perf_counter()
            await client.enqueue_one(n)
            took.append((time.perf_counter() - began) * 1000)
        return {"p50_ms": percentile(took, 0.5), "p99_ms": percentile(took, 0.99)}
    if action == "latency":
        read_fd = int(os.environ["BENCH_TALLY_READ_FD"])
        gaps = random.Random(count)  # the same gaps for every queue
        waits = []
        for n in range(count):
            sent = time.time()
            await client.enqueue_one(n)
            (started,) = RECORD.unpack(await asyncio.to_thread(_read_record, read_fd))
            waits.append((started - sent) * 1000)
            # idle again, for a while: a queue that polls is met at any point of its interval
            await asyncio.sleep(gaps.uniform(0.02, 0.3))
        return {"p50_ms": percentile(waits, 0.5), "p99_ms": percentile(waits, 0.99)}
    raise SystemExit(f"unknown action {action}")


def main(connect: Callable[[str], AbstractAsyncContextManager[Client]]) -> None:
    """The command line; ``connect(target)`` is entered on the driver's event loop."""
    action, target = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    kind = sys.argv[4] if len(sys.argv) > 4 else "noop"

    async def go() -> dict[str, float]:
        async with connect(target) as client:
            return await run(action, count, kind, client)

    print(json.dumps(asyncio.run(go())))
