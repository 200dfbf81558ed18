"""Huey's side of the peer benchmark; runs in its own environment (``.bench-peers/huey``).

The worker: ``huey_consumer huey_app.huey -w 10 -k thread`` (its CLI; otherwise its
defaults: polling from 0.1 s, backing off to 10 s when idle). The store: ``SqliteHuey`` with its
defaults (WAL; SQLite's default ``synchronous``, FULL on this build: durable, as jobq is);
results off (no task returns one). Huey has no batch enqueue: a batch is one call per job. The
client actions are those of ``driver_jobq.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from huey_app import RECORD, noop, sleep10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def client(action: str, count: int, kind: str) -> dict[str, float]:
    task = {"noop": noop, "sleep10": sleep10}[kind]
    if action == "setup":
        return {}
    if action in ("fill", "enqueue-batch"):
        began = time.perf_counter()
        for n in range(count):
            task(n)
        return {"jobs_per_s": count / (time.perf_counter() - began)}
    if action == "enqueue-one":
        took = []
        for n in range(count):
            began = time.perf_counter()
            noop(n)
            took.append((time.perf_counter() - began) * 1000)
        return {"p50_ms": percentile(took, 0.5), "p99_ms": percentile(took, 0.99)}
    if action == "latency":
        read_fd = int(os.environ["BENCH_TALLY_READ_FD"])
        waits = []
        for n in range(count):
            sent = time.time()
            noop(n)
            (started,) = RECORD.unpack(os.read(read_fd, 8))
            waits.append((started - sent) * 1000)
            time.sleep(0.02)
        return {"p50_ms": percentile(waits, 0.5), "p99_ms": percentile(waits, 0.99)}
    raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    action = sys.argv[1]  # sys.argv[2], the file, is BENCH_HUEY_FILE already
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    kind = sys.argv[4] if len(sys.argv) > 4 else "noop"
    print(json.dumps(client(action, count, kind)))
