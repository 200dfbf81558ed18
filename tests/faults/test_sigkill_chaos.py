"""SIGKILL chaos: worker processes killed at random while a stream of short jobs runs; each
killed worker is replaced. Nothing is lost, nothing is left behind, nothing succeeds twice; a
job runs twice only where a kill cut its first run short; every orphan runs again within a
lease and two reaper scans."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from jobq.worker import PoolConfig
from tests.apps.ledger import read_ledger
from tests.faults.checker import Kill, check, lease_lost_events, write_figures
from tests.faults.tier import tier
from tests.fleet import Launch, broken, pid_of, stop_all, worker_args
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow

LEASE = 3.0
#: a reaper scans every ``reap_interval`` seconds, jittered by up to +20 % (worker/reaper.py)
REAP_SCAN = PoolConfig(lease_seconds=LEASE).reap_interval * 1.2
#: an orphan's lease runs out at most LEASE after the kill (the heartbeat renewed it to at
#: most LEASE ahead); a survivor's reaper finds it within a scan; a claim and a start follow
#: at once (small buffers, a short backlog). Two scans: the bound the suite promises.
RECOVERY_BOUND = LEASE + 2 * REAP_SCAN
#: jobs enqueued but not yet claimed, at most: the jobs stream in, as a busy service's do (a
#: requeued orphan keeps its run_at, so it would not wait behind a longer backlog either)
BACKLOG = 100
BATCH = 50


@pytest.mark.timeout(300)
async def test_random_sigkills_lose_nothing_and_rerun_only_what_they_cut(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """``chaos_jobs`` jobs of 10-50 ms stream in (the backlog held under ``BACKLOG``) to
    ``chaos_workers`` ``jobq worker`` processes with 3-second leases; ``chaos_kills`` SIGKILLs
    fall on random workers, spread evenly over the run by progress (kill i once i/(kills+1) of
    the jobs have succeeded, and once the last victim's replacement is up); each victim is
    replaced by a new process at once."""
    faults = tier()
    jobs, kills_wanted = faults.chaos_jobs, faults.chaos_kills
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    args = worker_args(
        store_url,
        f"--workers 8 --queue-capacity 8 --lease-seconds {LEASE} --poll-interval 0.2 "
        "--shutdown-timeout 10",
    )
    spawned = 0

    def spawn() -> JobqProcess:
        nonlocal spawned
        spawned += 1
        return launch(f"worker{spawned}", args)

    slots = [spawn() for _ in range(faults.chaos_workers)]
    for process in slots:
        await process.wait_event("pool_started", timeout=30)

    submitted: list[str] = []

    async def produce() -> None:
        """Enqueue in batches while fewer than BACKLOG jobs wait (bounded by jobs/BATCH
        batches and by the test's timeout)."""
        while len(submitted) < jobs:
            counts = await statuses(producer)
            if counts.get(JobState.PENDING, 0) >= BACKLOG:
                await asyncio.sleep(0.05)
                continue
            size = min(BATCH, jobs - len(submitted))
            results = await producer.enqueue_many(
                [
                    producer.new_job(
                        "ledger.sleep", {"seconds": rng.uniform(0.01, 0.05)}, max_attempts=25
                    )
                    for _ in range(size)
                ]
            )
            submitted.extend(result.job.id for result in results)

    async def succeeded() -> int:
        return (await statuses(producer)).get(JobState.SUCCEEDED, 0)

    def fleet_alive() -> None:
        for process in slots:
            if process.proc.poll() is not None:
                raise AssertionError(
                    f"{process.log_path.name} died on its own ({process.proc.returncode}):\n"
                    + process.log_text()[-3000:]
                )

    began = time.monotonic()
    producing = asyncio.create_task(produce())
    kills: list[Kill] = []
    try:
        for number in range(1, kills_wanted + 1):
            target = number * jobs // (kills_wanted + 1)

            async def reached(target: int = target) -> bool:
                fleet_alive()
                if producing.done():
                    producing.result()  # raises what the producer raised
                return await succeeded() >= target

            await wait_for(reached, timeout=120, interval=0.05, what=f"{target} jobs done")
            # Never kill while the last replacement is still starting: the promise is that
            # the survivors' reapers bring orphans back, so there must be survivors. (At one
            # kill a second, the full tier's pace, a fleet whose processes are all younger
            # than start-up plus a reaper interval has none scanning.)
            for process in slots:
                await process.wait_event("pool_started", timeout=30)
            slot = rng.randrange(len(slots))
            victim = slots[slot]
            kills.append(Kill(victim.pid))
            os.kill(victim.pid, signal.SIGKILL)
            assert await victim.wait_exit(10) == -signal.SIGKILL
            slots[slot] = spawn()
        await asyncio.wait_for(producing, 120)

        async def all_done() -> bool:
            fleet_alive()
            return await succeeded() == jobs

        await wait_for(all_done, timeout=120, interval=0.1, what=f"all {jobs} jobs to succeed")
    finally:
        producing.cancel()
    elapsed = time.monotonic() - began
    # A replacement may still be starting: a SIGTERM before jobq has set its signal handlers
    # would end it with -15 (harmless: it holds nothing yet), so wait for every pool to be up.
    for process in slots:
        await process.wait_event("pool_started", timeout=30)
    codes = await stop_all(slots)
    assert set(codes.values()) == {0}, codes

    ledger_records = read_ledger(ledger)
    verdict = await check(
        producer.store, ledger_records, accepted=submitted, kills=kills, processes=processes
    )
    figures = verdict.figures
    killed = {kill.pid for kill in kills}
    succeeded_attempts = {
        (a.job_id, a.attempt)
        for attempts in verdict.attempts.values()
        for a in attempts
        if a.outcome is Outcome.SUCCEEDED
    }
    # Handlers that ran to their end in a victim that was killed before it wrote the outcome:
    # at-least-once, rightly run again.
    unacked = [
        r
        for r in ledger_records
        if r["kind"] == "end"
        and r["pid"] in killed
        and (r["job_id"], r["attempt"]) not in succeeded_attempts
    ]
    survivors_lost = {
        pid for pid, _, _ in lease_lost_events(p for p in processes if p.pid not in killed)
    }
    figures |= {
        "seed": seed,
        "workers": faults.chaos_workers,
        "lease_seconds": LEASE,
        "recovery_bound_s": round(RECOVERY_BOUND, 3),
        "finished_but_unacknowledged": len(unacked),
        "survivor_pids_with_lease_lost": len(survivors_lost),
        "elapsed_s": round(elapsed, 1),
        "jobs_per_s": round(jobs / elapsed, 1),
    }
    write_figures(figures, request)

    assert len(kills) == kills_wanted
    assert figures["statuses"] == {"succeeded": jobs}
    assert figures["lost"] == 0, verdict.sample("lost")
    assert figures["stuck"] == 0, verdict.sample("stuck")
    assert figures["completed_twice"] == 0, verdict.sample("completed_twice")
    assert figures["double_claim"] == 0, verdict.sample("double_claim")
    assert figures["foreign"] == 0
    assert figures["orphans"] > 0, "the kills cut running work short"
    # A job ran twice only if a kill cut an earlier run short: every earlier start was in a
    # killed process, on an attempt the store recorded as lost (its lease ran out).
    for job_id in verdict.ids.get("dup_exec", set()):
        outcome = {a.attempt: a.outcome for a in verdict.attempts[job_id]}
        starts = sorted(
            (r for r in ledger_records if r["job_id"] == job_id and r["kind"] == "start"),
            key=lambda r: r["t"],
        )
        for cut in starts[:-1]:
            assert cut["pid"] in killed, (job_id, starts)
            assert outcome.get(cut["attempt"]) is Outcome.LOST, (job_id, starts, outcome)
    assert set(figures["dup_exec_causes"]) <= {"lost"}, figures["dup_exec_causes"]
    # Every orphan ran again, and was claimed again within a lease and two reaper scans of
    # its kill (the next start may come later: a claim that a later kill cuts short again).
    assert figures["unrecovered"] == 0, verdict.sample("unrecovered")
    assert set(verdict.reclaim) == set(verdict.recovery), "each orphan claimed again"
    slow = {key: t for key, t in verdict.reclaim.items() if t > RECOVERY_BOUND}
    assert not slow, f"claimed later than {RECOVERY_BOUND:.1f} s: {sorted(slow.items())[:10]}"
    # The store agrees: each job's last attempt succeeded, in a process that was not killed
    # before it wrote the outcome; every earlier attempt was lost by a killed process.
    for job_id in submitted:
        *before, last = verdict.attempts[job_id]
        assert last.outcome is Outcome.SUCCEEDED, verdict.attempts[job_id]
        for attempt in before:
            assert attempt.outcome is Outcome.LOST, verdict.attempts[job_id]
            assert pid_of(attempt.worker_id) in killed, verdict.attempts[job_id]
    assert not survivors_lost, "a worker that was never killed lost a lease"
    assert not broken(processes), broken(processes)
