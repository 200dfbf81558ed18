"""Handlers for tests that run jobq in real processes (``--app tests.apps.ledger:jq``).

Each handler appends a ``start`` and an ``end`` record (``stopped`` instead of ``end`` when
its run was stopped) with the job id, attempt, pid, worker id and monotonic time to the ledger
file named by ``JOBQ_TEST_LEDGER``: one JSON object per line, written with O_APPEND so lines
from many processes never interleave. The test joins the ledger with the store to prove what
ran where, and how often.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

from jobq import JobContext, JobQueue, Limit, Rate

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


@jq.job("ledger.linger", max_attempts=3)
async def ledger_linger(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Runs ``seconds`` on its first attempt, returns at once on later ones; if its run is
    stopped (its lease lost), writes a ``stopped`` record instead of ``end``."""
    record("start", ctx)
    try:
        await asyncio.sleep(float(payload.get("seconds", 0)) if ctx.attempt == 1 else 0)
    except asyncio.CancelledError:
        record("stopped", ctx, cancelled=ctx.cancelled)
        raise
    record("end", ctx)
    return {"pid": os.getpid()}


@jq.job("ledger.linger_def", max_attempts=3)
def ledger_linger_def(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """``ledger.linger`` as a plain ``def`` in a thread: it waits on ``ctx.wait_cancelled``."""
    record("start", ctx)
    if ctx.wait_cancelled(float(payload.get("seconds", 0)) if ctx.attempt == 1 else 0):
        record("stopped", ctx, cancelled=ctx.cancelled)
        return {"pid": os.getpid(), "stopped": True}  # dropped by the worker
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


@jq.job("ledger.held", max_attempts=1)
async def ledger_held(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
    """Starts, waits until the file named by ``until`` exists (at most ``limit`` seconds), then
    sleeps ``seconds``: a test decides when the jobs under way may end, whatever the machine's
    speed."""
    record("start", ctx)
    gate = str(payload["until"])
    async with asyncio.timeout(float(payload.get("limit", 120))):
        while not os.path.exists(gate):
            await asyncio.sleep(0.01)
    await asyncio.sleep(float(payload.get("seconds", 0)))
    record("end", ctx)
    return {"pid": os.getpid()}


# -- limited jobs (tests/e2e/test_limits_fleet.py) -------------------------------------------


@jq.job("ledger.limited", concurrency=2)
async def ledger_limited(payload: dict[str, Any], ctx: JobContext) -> None:
    """At most 2 run at once across the fleet."""
    record("start", ctx)
    await asyncio.sleep(float(payload.get("seconds", 0)))
    record("end", ctx)


@jq.job("ledger.per_customer", concurrency=Limit(1, by="customer"))
async def ledger_per_customer(payload: dict[str, Any], ctx: JobContext) -> None:
    """At most one per customer at once, any number of customers."""
    record("start", ctx, customer=payload.get("customer"))
    await asyncio.sleep(float(payload.get("seconds", 0)))
    record("end", ctx, customer=payload.get("customer"))


@jq.job("ledger.rated", rate=Rate(10, per=1))
async def ledger_rated(payload: dict[str, Any], ctx: JobContext) -> None:
    """At most 10 start per second (per fixed window) across the fleet; records when its claim
    stamped it started (``claimed``: the time the store counts it in)."""
    assert ctx.job.started_at is not None
    record("start", ctx, claimed=ctx.job.started_at.timestamp())


# -- workflows (tests/e2e/test_workflows_fleet.py) ----------------------------------------


@jq.job("ledger.parent", max_attempts=3)
async def ledger_parent(payload: dict[str, Any], ctx: JobContext) -> int:
    """Returns its ``n``; with ``fail_first``, fails its first attempt (retried)."""
    record("start", ctx)
    if payload.get("fail_first") and ctx.attempt == 1:
        record("failed", ctx)
        raise RuntimeError("the first attempt fails on purpose")
    record("end", ctx)
    return int(payload["n"])


@jq.job("ledger.fan_in", max_attempts=1)
async def ledger_fan_in(payload: dict[str, Any], ctx: JobContext) -> int:
    """Records what it waited for and how those ended; returns the sum of their results."""
    states = sorted({d.status.value for d in ctx.dependencies})
    record("start", ctx, dependencies=len(ctx.dependencies), states=states)
    return sum(int(d.result) for d in ctx.dependencies)


# -- poison jobs (tests/faults/test_poison.py) ---------------------------------------------


@jq.job("ledger.suicide", max_attempts=3)
async def ledger_suicide(payload: dict[str, Any], ctx: JobContext) -> None:
    """Kills its own worker process with SIGKILL: every attempt loses the worker."""
    import signal

    record("start", ctx)
    os.kill(os.getpid(), signal.SIGKILL)
    await asyncio.sleep(60)  # not reached: the process is gone


@jq.job("ledger.hog", max_attempts=3)
def ledger_hog(payload: dict[str, Any], ctx: JobContext) -> None:
    """Eats memory, ``chunk_mb`` every ``every`` seconds, until the process is killed (the
    test's memory watchdog). Bounded whatever happens: on MemoryError (the process's RLIMIT_AS)
    or after ``max_mb`` it frees what it took and ends the process at once (``os._exit``), as
    an out-of-memory death would, writing an ``oom`` ledger record first."""
    record("start", ctx)
    chunk = int(float(payload.get("chunk_mb", 4)) * 1024 * 1024)
    every = float(payload.get("every", 0.01))
    hoard: list[bytes] = []
    reason = "max_mb"
    try:
        for _ in range(int(float(payload.get("max_mb", 1024)) * 1024 * 1024) // chunk):
            hoard.append(b"x" * chunk)  # written, so resident
            time.sleep(every)
    except MemoryError:
        reason = "memory_error"
    taken = len(hoard) * chunk
    hoard.clear()
    record("oom", ctx, reason=reason, taken_mb=taken // (1024 * 1024))
    os._exit(137)


@jq.job("ledger.login", max_attempts=1, secret=["password", "api_key"])
async def ledger_login(payload: dict[str, Any], ctx: JobContext) -> None:
    """Fails with an error that quotes its secret fields, as careless code does."""
    raise PermissionError(
        f"login refused for {payload.get('user')!r} with password {payload.get('password')!r} "
        f"and key {payload.get('api_key')}"
    )
