"""PgQueuer's side of the peer benchmark; runs in its own environment (``.bench-peers/pgqueuer``).

The worker: ``python -m driver_pgqueuer work``, which runs ``pgqueuer.run(factory)`` on uvloop
as its ``pgq run`` command does, with its defaults (batch size 10, no concurrency limit). Not
``pgq run`` itself: with the typer its requirements allow today, its ``--log-level`` option
reaches the logger as a string and every ``pgq run`` fails at start-up. The log level is set to
WARNING in the factory. The factory makes a
``QueueManager`` on one asyncpg connection as its performance guide recommends. As many
handlers run at once in a process as ``BENCH_CONCURRENCY`` says (a semaphore, as jobq's
``--workers``); PgQueuer's own ``concurrency_limit`` is not used: it counts across all
processes, and counts a finished job until its completion is written. The client
(``common.py``) uses one asyncpg connection; a batch is one ``enqueue`` call of lists (one
statement). Payloads are the same JSON as jobq's, as bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import AsyncIterator

import asyncpg
from common import Client, main, record
from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries


@contextlib.asynccontextmanager
async def factory() -> AsyncIterator[QueueManager]:
    """What ``pgq run`` calls (after it has set up its logging, at INFO)."""
    logging.getLogger("pgqueuer").setLevel(logging.WARNING)
    conn = await asyncpg.connect(os.environ["PGDSN"])
    manager = QueueManager(Queries(AsyncpgDriver(conn)))
    slots = asyncio.Semaphore(int(os.environ.get("BENCH_CONCURRENCY", "10")))

    @manager.entrypoint("noop")
    async def noop(job: Job) -> None:
        async with slots:
            record()

    @manager.entrypoint("sleep10")
    async def sleep10(job: Job) -> None:
        async with slots:
            record()
            await asyncio.sleep(0.01)

    try:
        yield manager
    finally:
        await conn.close()


def _payload(n: int) -> bytes:
    return json.dumps({"n": n}).encode()


@contextlib.asynccontextmanager
async def connect(dsn: str) -> AsyncIterator[Client]:
    conn = await asyncpg.connect(dsn)
    queries = Queries(AsyncpgDriver(conn))

    async def setup() -> None:
        installed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pgqueuer", "--pg-dsn", dsn, "install",
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await installed.wait() != 0:
            raise SystemExit("pgq install failed")

    async def enqueue_batch(kind: str, first: int, count: int) -> None:
        payloads = [_payload(n) for n in range(first, first + count)]
        await queries.enqueue([kind] * count, payloads, [0] * count)

    async def enqueue_one(n: int) -> None:
        await queries.enqueue("noop", _payload(n), 0)

    try:
        yield Client(setup, enqueue_batch, enqueue_one)
    finally:
        await conn.close()


def work() -> None:
    """A worker process, as ``pgq run driver_pgqueuer:factory`` would run it."""
    import pgqueuer
    import uvloop

    uvloop.run(pgqueuer.run(factory))


if __name__ == "__main__":
    if sys.argv[1:] == ["work"]:
        work()
    else:
        main(connect)
