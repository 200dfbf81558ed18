"""PgQueuer's side of the peer benchmark; runs in its own environment (``.bench-peers/pgqueuer``).

The worker: ``python -m pgqueuer run driver_pgqueuer:main`` (``pgq run``, its CLI, with its
defaults: batch size 10, uvloop), a ``QueueManager`` on one asyncpg connection as its
performance guide recommends, the entrypoints' concurrency limit ``BENCH_CONCURRENCY`` (a
limit PgQueuer enforces across all worker processes). The client actions are those of
``driver_jobq.py``; a producer uses one asyncpg connection; a batch is one ``enqueue`` call of
lists (one statement). Payloads are the same JSON as jobq's, as bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
from pgqueuer import QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Job
from pgqueuer.queries import Queries

BATCH = 1_000
_FD = int(os.environ.get("BENCH_TALLY_FD", "-1"))
_RECORD = struct.Struct("<d")


def record() -> None:
    if _FD >= 0:
        os.write(_FD, _RECORD.pack(time.time()))


@contextlib.asynccontextmanager
async def main() -> AsyncIterator[QueueManager]:
    """The factory ``pgq run`` calls."""
    conn = await asyncpg.connect(os.environ["PGDSN"])
    manager = QueueManager(Queries(AsyncpgDriver(conn)))
    limit = int(os.environ.get("BENCH_CONCURRENCY", "10"))

    @manager.entrypoint("noop", concurrency_limit=limit)
    async def noop(job: Job) -> None:
        record()

    @manager.entrypoint("sleep10", concurrency_limit=limit)
    async def sleep10(job: Job) -> None:
        record()
        await asyncio.sleep(0.01)

    try:
        yield manager
    finally:
        await conn.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def client(action: str, dsn: str, count: int, kind: str) -> dict[str, float]:
    if action == "setup":
        installed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pgqueuer", "--pg-dsn", dsn, "install",
            stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await installed.wait() != 0:
            raise SystemExit("pgq install failed")
        return {}
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        if action in ("fill", "enqueue-batch"):
            batches = [
                [json.dumps({"n": n}).encode() for n in range(i, min(count, i + BATCH))]
                for i in range(0, count, BATCH)
            ]
            began = time.perf_counter()
            for payloads in batches:
                await queries.enqueue([kind] * len(payloads), payloads, [0] * len(payloads))
            return {"jobs_per_s": count / (time.perf_counter() - began)}
        if action == "enqueue-one":
            took = []
            for n in range(count):
                began = time.perf_counter()
                await queries.enqueue("noop", json.dumps({"n": n}).encode(), 0)
                took.append((time.perf_counter() - began) * 1000)
            return {"p50_ms": percentile(took, 0.5), "p99_ms": percentile(took, 0.99)}
        if action == "latency":
            read_fd = int(os.environ["BENCH_TALLY_READ_FD"])
            waits = []
            for n in range(count):
                sent = time.time()
                await queries.enqueue("noop", json.dumps({"n": n}).encode(), 0)
                (started,) = _RECORD.unpack(await asyncio.to_thread(os.read, read_fd, 8))
                waits.append((started - sent) * 1000)
                await asyncio.sleep(0.02)
            return {"p50_ms": percentile(waits, 0.5), "p99_ms": percentile(waits, 0.99)}
    finally:
        await conn.close()
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    action, dsn = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    kind = sys.argv[4] if len(sys.argv) > 4 else "noop"
    print(json.dumps(asyncio.run(client(action, dsn, count, kind))))
