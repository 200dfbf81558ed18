"""Handlers for tests that run jobq in real processes (``--app tests.apps.ledger:jq``).

Each handler appends a ``start`` and an ``end`` record (job id, attempt, pid, worker id,
monotonic time) to the ledger file named by ``JOBQ_TEST_LEDGER``: one JSON object per line,
written with O_APPEND so lines from many processes never interleave. The test joins the
ledger with the store to prove what ran where, and how often.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from jobq import JobContext, JobQueue

jq = JobQueue()  # only the handlers are used; the process's settings choose the database


def record(kind: str, ctx: JobContext, **extra: Any) -> None:
    path = os.environ.get("JOBQ_TEST_LEDGER")
    if not path:
        return
    line = (
        json.dumps(
            {
                "kind": kind,
                "job_id": ctx.job_id,
                "attempt": ctx.attempt,
                "pid": os.getpid(),
                "worker_id": ctx.worker_id,
                "t": time.monotonic(),
                **extra,
            }
        )
        + "\n"
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def read_ledger(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with open(path) as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


@jq.job("ledger.sleep", max_attempts=3)
async def ledger_sleep(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    record("start", ctx)
    await asyncio.sleep(float(payload.get("seconds", 0)))
    record("end", ctx)
    return {"pid": os.getpid()}


@jq.job("ledger.block", max_attempts=3)
def ledger_block(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """A plain ``def`` handler: runs in a thread and cannot be interrupted."""
    record("start", ctx)
    time.sleep(float(payload.get("seconds", 0)))
    record("end", ctx)
    return {"pid": os.getpid()}


@jq.job("ledger.fail", max_attempts=2)
async def ledger_fail(payload: dict[str, Any], ctx: JobContext) -> None:
    record("start", ctx)
    raise RuntimeError(str(payload.get("message", "failed on purpose")))


@jq.job("ledger.progress", max_attempts=1)
async def ledger_progress(payload: dict[str, Any], ctx: JobContext) -> str:
    """Reports half-way, waits, then done: for `--wait` and the dashboard to show."""
    ctx.progress(0.5, str(payload.get("message", "halfway there")))
    await asyncio.sleep(float(payload.get("seconds", 0.5)))
    ctx.progress(1.0, "done")
    return "finished"


@jq.job("ledger.gate", max_attempts=1)
async def ledger_gate(payload: dict[str, Any], ctx: JobContext) -> str:
    """Fails while the file named by ``blocker`` exists: dead at once, fine after a retry."""
    record("start", ctx)
    if os.path.exists(str(payload["blocker"])):
        raise RuntimeError("blocked by " + os.path.basename(str(payload["blocker"])))
    return "passed"
