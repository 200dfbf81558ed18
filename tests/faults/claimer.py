"""The claimers of the claim race (test_claim_race.py), run as
``python -m tests.faults.claimer URL OUT_DIR PROCESSES TASKS POOL_SIZE LIMIT SECONDS``.

This process imports jobq once, then forks ``PROCESSES`` children (real processes, each with
its own store and its own database connections, opened after the fork) and waits for them.
Each child runs ``TASKS`` asyncio tasks, each claiming ``LIMIT`` jobs at a time, as fast as it
can, until a claim finds nothing or ``SECONDS`` have passed; on PostgreSQL the tasks of a child
share a pool of ``POOL_SIZE`` connections. Children start together: each writes
``OUT_DIR/ready-<n>`` and waits for ``OUT_DIR/go``. Each writes ``OUT_DIR/claimed-<n>.json``:
its pid, the ids it claimed (one entry per claim of a job, so a job claimed twice appears
twice), the number of claim calls, and every exception a claim raised (type and message: the
errors that reached a caller).

With ``JOBQ_TEST_NAIVE_CLAIM=1`` in the environment, the stores' claim is replaced by the
naive one in ``naive_claim.py`` first: the mutation the race must catch.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from jobq.domain.ids import WorkerId
from jobq.store import ClaimRequest, PostgresOptions, open_store

#: a child never outlives this, whatever happens (SIGALRM ends it)
CHILD_SECONDS = 150
START_SECONDS = 60
#: a claiming task stops after this many errors in a row
ERRORS_IN_A_ROW = 50


async def child(
    url: str, out: Path, number: int, tasks: int, pool_size: int, limit: int, seconds: float
) -> dict[str, Any]:
    options = PostgresOptions(pool_size=pool_size, connect_timeout=60)
    store = await open_store(url, postgres=options)
    try:
        (out / f"ready-{number}").touch()
        deadline = time.monotonic() + START_SECONDS
        while not (out / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("no go signal")
            await asyncio.sleep(0.005)
        claimed: list[str] = []
        errors: list[dict[str, str]] = []
        calls = 0

        async def drain(task: int) -> None:
            nonlocal calls
            owner = WorkerId(f"race:{os.getpid()}:{number}-{task}")
            end = time.monotonic() + seconds
            in_a_row = 0
            while time.monotonic() < end and in_a_row < ERRORS_IN_A_ROW:
                calls += 1
                try:
                    batch = await store.claims.claim(
                        ClaimRequest(owner=owner, queues=None, limit=limit, lease_seconds=3600)
                    )
                except Exception as exc:  # counted: an error that reached the caller
                    errors.append({"type": type(exc).__name__, "message": str(exc)[:300]})
                    in_a_row += 1
                    await asyncio.sleep(0.01)
                    continue
                in_a_row = 0
                if not batch:
                    return
                claimed.extend(job.id for job in batch)

        await asyncio.gather(*(drain(task) for task in range(tasks)))
        return {"pid": os.getpid(), "claimed": claimed, "calls": calls, "errors": errors}
    finally:
        await store.close()


def die_with_parent() -> None:
    """Linux: this child gets SIGKILL when its parent dies (the test ends the parent by pid)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def run_child(
    url: str, out: Path, number: int, tasks: int, pool_size: int, limit: int, seconds: float
) -> int:
    die_with_parent()
    signal.alarm(CHILD_SECONDS)
    try:
        report = asyncio.run(child(url, out, number, tasks, pool_size, limit, seconds))
    except BaseException as exc:
        (out / f"failed-{number}").write_text(f"{type(exc).__name__}: {exc}")
        return 1
    (out / f"claimed-{number}.json").write_text(json.dumps(report))
    return 0


def main(argv: list[str]) -> int:
    url, out_dir, processes, tasks, pool_size, limit, seconds = argv
    out = Path(out_dir)
    if os.environ.get("JOBQ_TEST_NAIVE_CLAIM") == "1":
        from tests.faults.naive_claim import install

        install()
    children = []
    for number in range(int(processes)):
        pid = os.fork()
        if pid == 0:  # the child: no threads were started before the fork
            code = 1
            try:
                code = run_child(
                    url, out, number, int(tasks), int(pool_size), int(limit), float(seconds)
                )
            finally:
                os._exit(code)
        children.append(pid)
    failed = 0
    for pid in children:
        _, status = os.waitpid(pid, 0)
        failed += os.waitstatus_to_exitcode(status) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
