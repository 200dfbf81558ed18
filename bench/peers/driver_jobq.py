"""jobq's side of the peer benchmark: the worker app (``--app bench.peers.driver_jobq:jq``)
and the client (``python -m bench.peers.driver_jobq ACTION TARGET [N [KIND]]``, see
``common.py``). Settings: jobq's defaults, as a user who reads the README gets them; the store
is ``JOBQ_DATABASE_URL`` (the target, as a URL)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from bench.peers.common import Client, main, record
from jobq import JobQueue

jq = JobQueue(os.environ.get("JOBQ_DATABASE_URL"))


@jq.job("noop", max_attempts=1)
async def noop(payload: dict[str, Any]) -> None:
    record()


@jq.job("sleep10", max_attempts=1)
async def sleep10(payload: dict[str, Any]) -> None:
    record()
    await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def connect(target: str) -> AsyncIterator[Client]:
    async with jq as queue:  # JOBQ_DATABASE_URL, and the handlers above

        async def setup() -> None:
            return None  # the store is made and migrated when it is opened

        async def enqueue_batch(kind: str, first: int, count: int) -> None:
            await queue.enqueue_many(
                [queue.new_job(kind, {"n": n}) for n in range(first, first + count)]
            )

        async def enqueue_one(n: int) -> None:
            await queue.enqueue("noop", {"n": n})

        yield Client(setup, enqueue_batch, enqueue_one)


if __name__ == "__main__":
    main(connect)
