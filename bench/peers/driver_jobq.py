"""jobq's side of the peer benchmark: the worker app (``--app bench.peers.driver_jobq:jq``)
and the client actions, the same as every peer driver's (``python -m bench.peers.driver_jobq
ACTION URL [N]``; one JSON object on stdout):

- ``setup``: an empty store (jobq migrates on open);
- ``fill N KIND``: N jobs of KIND (``noop`` or ``sleep10``: 10 ms), in batches of 1,000;
- ``enqueue-batch N``: N no-op jobs in batches of 1,000, timed: ``jobs_per_s``;
- ``enqueue-one N``: N no-op jobs one call each, timed: ``p50_ms``, ``p99_ms``;
- ``latency N``: N jobs one at a time, each after the last has started, with a worker idle:
  enqueue -> handler start, read from the tally pipe (``BENCH_TALLY_READ_FD``).

Settings: jobq's defaults, as a user who reads the README gets them.
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import time
from typing import Any

from jobq import JobQueue

BATCH = 1_000
_FD = int(os.environ.get("BENCH_TALLY_FD", "-1"))
_RECORD = struct.Struct("<d")

jq = JobQueue(os.environ.get("JOBQ_DATABASE_URL"))


def record() -> None:
    if _FD >= 0:
        os.write(_FD, _RECORD.pack(time.time()))


@jq.job("noop", max_attempts=1)
async def noop(payload: dict[str, Any]) -> None:
    record()


@jq.job("sleep10", max_attempts=1)
async def sleep10(payload: dict[str, Any]) -> None:
    record()
    await asyncio.sleep(0.01)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(action: str, count: int, kind: str) -> dict[str, float]:
    async with jq as queue:  # JOBQ_DATABASE_URL, the handlers above
        if action == "setup":
            return {}
        if action in ("fill", "enqueue-batch"):
            batches = [
                [queue.new_job(kind, {"n": n}) for n in range(i, min(count, i + BATCH))]
                for i in range(0, count, BATCH)
            ]
            began = time.perf_counter()
            for batch in batches:
                await queue.enqueue_many(batch)
            return {"jobs_per_s": count / (time.perf_counter() - began)}
        if action == "enqueue-one":
            took = []
            for n in range(count):
                began = time.perf_counter()
                await queue.enqueue("noop", {"n": n})
                took.append((time.perf_counter() - began) * 1000)
            return {"p50_ms": percentile(took, 0.5), "p99_ms": percentile(took, 0.99)}
        if action == "latency":
            read_fd = int(os.environ["BENCH_TALLY_READ_FD"])
            waits = []
            for n in range(count):
                sent = time.time()
                await queue.enqueue("noop", {"n": n})
                (started,) = _RECORD.unpack(await asyncio.to_thread(os.read, read_fd, 8))
                waits.append((started - sent) * 1000)
                await asyncio.sleep(0.02)  # the worker is idle again before the next
            return {"p50_ms": percentile(waits, 0.5), "p99_ms": percentile(waits, 0.99)}
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    action = sys.argv[1]  # sys.argv[2], the target, is JOBQ_DATABASE_URL already
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    kind = sys.argv[4] if len(sys.argv) > 4 else "noop"
    print(json.dumps(asyncio.run(main(action, count, kind))))
