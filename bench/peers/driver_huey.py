"""Huey's side of the peer benchmark; runs in its own environment (``.bench-peers/huey``).

The worker: ``huey_consumer huey_app.huey -w 10 -k thread`` (``huey_app.py``). The client
(``common.py``): Huey has no batch enqueue, so a batch is one call per job; its calls are
synchronous, made from the driver's loop one after another. The store is
``BENCH_HUEY_FILE`` (the target).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from common import Client, main
from huey_app import noop, sleep10


@contextlib.asynccontextmanager
async def connect(target: str) -> AsyncIterator[Client]:
    tasks = {"noop": noop, "sleep10": sleep10}

    async def setup() -> None:
        return None  # Huey makes its tables when it opens the file

    async def enqueue_batch(kind: str, first: int, count: int) -> None:
        task = tasks[kind]
        for n in range(first, first + count):
            task(n)

    async def enqueue_one(n: int) -> None:
        noop(n)

    yield Client(setup, enqueue_batch, enqueue_one)


if __name__ == "__main__":
    main(connect)
