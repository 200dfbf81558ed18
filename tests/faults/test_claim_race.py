"""The claim race: many processes claim the same 10,000 jobs at once; each job is claimed once.

On SQLite: 32 claimer processes in the fast tier, 64 in the full one (``race_sqlite_processes``),
one claiming task and one store each, on one database file. (64 in the fast tier failed 2 flake
hunts on a 2-core machine loaded beyond its single CPU burner: every process spins for the write
lock, the holder is descheduled meanwhile, and a claim waited out the 10 s busy timeout.)

On PostgreSQL, "1,000 concurrent claimers" means: 8 processes (``race_pg_processes``), each
running 125 asyncio tasks (``race_pg_tasks_per_process``), each task a claimer with a worker id
of its own, calling ``store.claim`` in a loop with no pause; the 125 tasks of a process share
that process's pool of 6 connections (48 connections in all: the server allows 100, and other
tests share it). So 1,000 claims are in flight at every moment, of which at most 48 are
executing on the server at once and the rest wait for a pooled connection, as the claims of a
busy fleet do.

Every claim takes ``RACE_LIMIT`` jobs at most. The claimers start together (a file barrier) and
run until a claim finds nothing. Counted: claims of a job already claimed (``double_claim``), and
every exception that reached a claimer (none may, "database is locked" least of all).

The mutation switch: the same race, with the claimers' ``claim`` replaced by a naive
select-then-update (``naive_claim.py``, set by ``JOBQ_TEST_NAIVE_CLAIM=1``), must report double
claims. A race that cannot catch the bug it guards proves nothing.

This covers, and replaces, tests/integration/test_claim_race.py (10,000 jobs, 50 claimers in
2 processes, exactly once, every process taking part).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from jobq.domain.states import JobState
from jobq.store import PostgresOptions, open_store
from tests.contract.support import new
from tests.faults.checker import backend_of, write_figures
from tests.faults.naive_claim import NAIVE_CLAIM_VARIABLE
from tests.faults.tier import tier
from tests.helpers import REPO
from tests.jobs import statuses

pytestmark = pytest.mark.slow

RACE_LIMIT = 5
PG_POOL_SIZE = 6
#: claimers stop after this long: the real race ends long before (when a claim finds nothing)
RACE_SECONDS = 100.0
#: the naive claim not only claims twice, it convoys (every claimer picks the same first rows,
#: and on PostgreSQL waits for the others' row locks on them): cut short, it has long since
#: claimed jobs twice
NAIVE_SECONDS = 15.0


@dataclass(slots=True)
class Race:
    enqueued: set[str]
    claims: Counter[str]
    reports: list[dict[str, Any]]
    final: dict[JobState, int]
    processes: int
    claimers: int
    elapsed: float

    @property
    def errors(self) -> list[dict[str, str]]:
        return [error for report in self.reports for error in report["errors"]]

    def figures(self) -> dict[str, Any]:
        locked = [e for e in self.errors if "locked" in e["message"].lower()]
        return {
            "jobs": len(self.enqueued),
            "processes": self.processes,
            "claimers": self.claimers,
            "claim_limit": RACE_LIMIT,
            "claim_calls": sum(report["calls"] for report in self.reports),
            "claims": sum(self.claims.values()),
            "double_claim": sum(1 for n in self.claims.values() if n > 1),
            "unclaimed": len(self.enqueued - set(self.claims)),
            "errors": len(self.errors),
            "error_types": dict(Counter(e["type"] for e in self.errors)),
            "locked_errors": len(locked),
            "processes_that_claimed": sum(1 for report in self.reports if report["claimed"]),
            "final": {state.value: n for state, n in sorted(self.final.items())},
            "elapsed_s": round(self.elapsed, 2),
        }


async def race(url: str, tmp_path: Path, *, naive: bool) -> Race:
    """Enqueue ``race_jobs`` jobs, run the claimers (``claimer.py``) against them, collect."""
    faults = tier()
    if url.startswith("postgres"):
        processes, tasks = faults.race_pg_processes, faults.race_pg_tasks_per_process
    else:
        processes, tasks = faults.race_sqlite_processes, 1
    out = tmp_path / ("naive" if naive else "race")
    out.mkdir()
    store = await open_store(url, postgres=PostgresOptions(pool_size=2))
    try:
        enqueued: set[str] = set()
        for start in range(0, faults.race_jobs, 1000):
            size = min(1000, faults.race_jobs - start)
            results = await store.enqueuer.enqueue(
                [new(payload={"i": start + i}) for i in range(size)]
            )
            enqueued.update(result.job.id for result in results)

        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            NAIVE_CLAIM_VARIABLE: "1" if naive else "0",
        }
        command = [sys.executable, "-m", "tests.faults.claimer", url, str(out)]
        seconds = NAIVE_SECONDS if naive else RACE_SECONDS
        command += [str(processes), str(tasks), str(PG_POOL_SIZE), str(RACE_LIMIT), str(seconds)]
        with open(tmp_path / f"claimer-{out.name}.log", "wb") as log:
            launcher = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            deadline = time.monotonic() + 60
            while len(list(out.glob("ready-*"))) < processes:
                broken = list(out.glob("failed-*"))
                assert not broken, [f.read_text() for f in broken]
                assert launcher.poll() is None, "the claimers' launcher died at start"
                assert time.monotonic() < deadline, "the claimers did not get ready"
                await asyncio.sleep(0.02)
            began = time.monotonic()
            (out / "go").touch()
            code = await asyncio.to_thread(launcher.wait, 170)
            elapsed = time.monotonic() - began
        finally:
            if launcher.poll() is None:  # ends its children too (PR_SET_PDEATHSIG)
                launcher.kill()
                launcher.wait(10)
        failed = [f.read_text() for f in out.glob("failed-*")]
        assert code == 0 and not failed, failed
        reports = [json.loads(path.read_text()) for path in sorted(out.glob("claimed-*.json"))]
        assert len(reports) == processes
        claims = Counter(job_id for report in reports for job_id in report["claimed"])
        final = await statuses(store)
    finally:
        await store.close()
    return Race(enqueued, claims, reports, final, processes, processes * tasks, elapsed)


@pytest.mark.timeout(300)
async def test_every_job_is_claimed_exactly_once_by_many_racing_claimers(
    tmp_path: Path, store_url: str, request: pytest.FixtureRequest
) -> None:
    result = await race(store_url, tmp_path, naive=False)
    figures = result.figures()
    write_figures(figures, request, backend=backend_of(store_url))

    assert figures["double_claim"] == 0, "a job was claimed twice"
    assert figures["claims"] == len(result.enqueued), "a claim returned a job twice, or missed"
    assert set(result.claims) == result.enqueued, "every job claimed, none foreign"
    assert figures["errors"] == 0, Counter(e["message"] for e in result.errors).most_common(5)
    assert figures["locked_errors"] == 0
    assert result.final == {JobState.RUNNING: len(result.enqueued)}
    # Many processes took part: the race was a race. (Not every one must: SQLite's busy handler
    # is not fair, and a process can wait out the whole 4-second race for the write lock; 50
    # to 62 of 64 took part in our runs.)
    assert figures["processes_that_claimed"] >= max(2, result.processes // 4), figures


@pytest.mark.timeout(300)
async def test_the_race_catches_a_naive_select_then_update_claim(
    tmp_path: Path, store_url: str, request: pytest.FixtureRequest
) -> None:
    """The mutation switch: the same race with the naive claim reports double claims. (Cut
    short after NAIVE_SECONDS: the naive claim convoys, and may not drain the jobs in time.)"""
    result = await race(store_url, tmp_path, naive=True)
    figures = result.figures()
    write_figures(figures, request, backend=backend_of(store_url))

    assert figures["double_claim"] > 0, "the race did not catch the naive claim"
