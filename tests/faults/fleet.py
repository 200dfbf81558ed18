"""What the fault tests share: worker arguments per backend, store counts, orderly stops."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.helpers import JobqProcess

#: events a process logs when something broke inside it (not merely "the store was away")
BROKEN = frozenset(
    {"pool_failed", "worker_error", "request_crashed", "http_failed", "startup_failed"}
)


def worker_args(url: str, args: str) -> str:
    """``jobq worker`` with ``args``; on PostgreSQL a small connection pool per process (the
    server allows 100 connections, and other tests share it)."""
    pool = " --db-pool-size 4" if url.startswith("postgres") else ""
    return f"worker {args}{pool}"


async def statuses(jq: JobQueue) -> dict[JobState, int]:
    return {c.status: c.count for c in await jq.store.reads.counts()}


def broken(processes: Iterable[JobqProcess]) -> dict[str, list[str]]:
    """log name -> the BROKEN events it logged (empty when none did)."""
    found = {}
    for process in processes:
        events = sorted(BROKEN & {e["event"] for e in process.events()})
        if events:
            found[process.log_path.name] = events
    return found


async def stop_all(processes: Iterable[JobqProcess], *, timeout: float = 30) -> dict[int, int]:
    """SIGTERM every process still running (by its PID); pid -> exit status."""
    alive = [p for p in processes if p.proc.poll() is None]
    for process in alive:
        process.signal(signal.SIGTERM)
    codes = await asyncio.gather(*(p.wait_exit(timeout) for p in alive))
    return {p.pid: code for p, code in zip(alive, codes, strict=True)}
