"""Poison jobs: a job that kills its own worker process, and one that eats memory until its
process is killed. Each ends ``dead`` (``worker_lost``) after exactly ``max_attempts`` attempts,
each attempt started once; no redelivery loop; the ordinary jobs on the same workers finish."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.job import DeadReason, Outcome
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.faults.checker import Kill, check, write_figures
from tests.faults.tier import tier
from tests.fleet import Launch, broken, pid_of, stop_all, worker_args
from tests.helpers import JobqProcess, wait_for

pytestmark = pytest.mark.slow

LEASE = 2.0
MAX_ATTEMPTS = 3
#: the memory-limited workers: the watchdog (the test's stand-in for the kernel's OOM killer)
#: SIGKILLs a worker whose resident memory passes WATCHDOG_RSS; RLIMIT_AS is the safety net
#: under it (the hog then meets MemoryError and ends its process). The hog stops by itself
#: at HOG_MAX_MB whatever happens: no attempt ever holds more than about 1 GiB.
WATCHDOG_RSS = 384 * 1024 * 1024
ADDRESS_SPACE = 4 * 1024 * 1024 * 1024
HOG = {"chunk_mb": 4, "every": 0.01, "max_mb": 1024}
BYSTANDER_SECONDS = 2.0


def resident(pid: int) -> int:
    """Resident memory of ``pid`` in bytes (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


@dataclass
class Fleet:
    """``size`` worker processes on one queue; any that dies is replaced at once."""

    name: str
    args: str
    launch: Launch
    memory_limited: bool
    slots: list[JobqProcess] = field(default_factory=list)
    deaths: list[Kill] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    watchdog_kills: int = 0
    peak_rss: int = 0
    spawned: int = 0

    def spawn(self) -> JobqProcess:
        self.spawned += 1
        process = self.launch(f"{self.name}{self.spawned}", self.args)
        if self.memory_limited:
            limit = (ADDRESS_SPACE, ADDRESS_SPACE)
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(process.pid, resource.RLIMIT_AS, limit)
        return process

    def tend(self) -> None:
        for i, process in enumerate(self.slots):
            if self.memory_limited and process.proc.poll() is None:
                rss = resident(process.pid)
                self.peak_rss = max(self.peak_rss, rss)
                if rss > WATCHDOG_RSS:
                    self.deaths.append(Kill(process.pid))
                    self.watchdog_kills += 1
                    os.kill(process.pid, signal.SIGKILL)
                    process.proc.wait(10)
            code = process.proc.poll()
            if code is not None:
                if not self.deaths or self.deaths[-1].pid != process.pid:
                    self.deaths.append(Kill(process.pid))
                self.exit_codes.append(code)
                self.slots[i] = self.spawn()


async def tend(fleets: list[Fleet]) -> None:
    """Every 20 ms: the memory watchdog, and a new process for each that died (until
    cancelled; the test's timeout bounds it)."""
    while True:
        for fleet in fleets:
            fleet.tend()
        await asyncio.sleep(0.02)


@pytest.mark.timeout(240)
async def test_poison_jobs_end_dead_after_max_attempts_and_the_rest_finish(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """Two fleets of two ``jobq worker`` processes, one on queue ``kill`` and one (memory
    limited) on queue ``mem``, with 2-second leases, run ``poison_bystanders`` ordinary jobs of
    2 s (half on each queue, ``max_attempts`` 10: a poison job's death takes them down too),
    and, one after another, ``poison_jobs`` poison jobs of each kind (``ledger.suicide`` on
    ``kill``, ``ledger.hog`` on ``mem``; ``max_attempts`` 3). A dead worker is replaced at once.

    Each poison job: ``dead``, reason ``worker_lost``, attempt 3, three attempt records all
    ``lost``, three ledger starts in three different (dead) processes and no end; each of its
    attempts cost exactly one worker process. Every ordinary job succeeds; nothing is lost,
    stuck, or completed twice.
    """
    faults = tier()
    args = worker_args(
        store_url,
        f"--workers 4 --queue-capacity 2 --lease-seconds {LEASE} --poll-interval 0.1 "
        "--shutdown-timeout 5",
    )
    fleets = [
        Fleet("kill", f"{args} --queues kill", launch, memory_limited=False),
        Fleet("mem", f"{args} --queues mem", launch, memory_limited=True),
    ]
    kill_fleet, mem_fleet = fleets
    ordinary = [
        producer.new_job(
            "ledger.sleep", {"seconds": BYSTANDER_SECONDS}, queue=queue, max_attempts=10
        )
        for n in range(faults.poison_bystanders // 2)
        for queue in ("kill", "mem")
    ]
    bystanders = [result.job.id for result in await producer.enqueue_many(ordinary)]
    for fleet in fleets:
        fleet.slots = [fleet.spawn() for _ in range(2)]
    for process in [*kill_fleet.slots, *mem_fleet.slots]:
        await process.wait_event("pool_started", timeout=30)

    began = time.monotonic()
    tending = asyncio.create_task(tend(fleets))
    poison: dict[str, list[str]] = {"ledger.suicide": [], "ledger.hog": []}

    async def one_after_another(job_type: str, queue: str, payload: dict[str, object]) -> None:
        for _ in range(faults.poison_jobs):
            job = await producer.enqueue(
                job_type, payload, queue=queue, priority=10, max_attempts=MAX_ATTEMPTS
            )
            poison[job_type].append(job.id)

            async def dead(job_id: str = job.id) -> bool:
                if tending.done():
                    tending.result()
                found = await producer.get(job_id)
                return found.status is JobState.DEAD

            await wait_for(dead, timeout=90, interval=0.1, what=f"{job_type} to end dead")

    try:
        await asyncio.gather(
            one_after_another("ledger.suicide", "kill", {}),
            one_after_another("ledger.hog", "mem", dict(HOG)),
        )

        async def bystanders_done() -> bool:
            if tending.done():
                tending.result()
            for job_id in bystanders:
                if (await producer.get(job_id)).status is not JobState.SUCCEEDED:
                    return False
            return True

        await wait_for(bystanders_done, timeout=90, interval=0.2, what="the other jobs")
    finally:
        tending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tending
    elapsed = time.monotonic() - began
    for process in [*kill_fleet.slots, *mem_fleet.slots]:  # replacements up: see the chaos test
        await process.wait_event("pool_started", timeout=30)
    codes = await stop_all([*kill_fleet.slots, *mem_fleet.slots])
    assert set(codes.values()) == {0}, codes

    records = read_ledger(ledger)
    poisoned = [*poison["ledger.suicide"], *poison["ledger.hog"]]
    deaths = [*kill_fleet.deaths, *mem_fleet.deaths]
    verdict = await check(
        producer.store,
        records,
        accepted=[*bystanders, *poisoned],
        kills=deaths,
        processes=processes,
    )
    ooms = [r for r in records if r["kind"] == "oom"]
    figures = verdict.figures | {
        "poison_jobs": {kind: len(ids) for kind, ids in poison.items()},
        "bystanders": len(bystanders),
        "worker_deaths": {"kill": len(kill_fleet.deaths), "mem": len(mem_fleet.deaths)},
        "mem_deaths_by_watchdog": mem_fleet.watchdog_kills,
        "mem_deaths_by_memory_error": sum(r["reason"] == "memory_error" for r in ooms),
        "mem_deaths_by_hog_cap": sum(r["reason"] == "max_mb" for r in ooms),
        "mem_peak_rss_mb": mem_fleet.peak_rss // (1024 * 1024),
        "elapsed_s": round(elapsed, 1),
    }
    write_figures(figures, request)

    for job_type, ids in poison.items():
        for job_id in ids:
            job = verdict.jobs[job_id]
            history = verdict.attempts[job_id]
            assert job.status is JobState.DEAD, (job_type, job)
            assert job.dead_reason is DeadReason.WORKER_LOST, (job_type, job)
            assert job.attempt == job.max_attempts == MAX_ATTEMPTS, (job_type, job)
            assert [(a.attempt, a.outcome) for a in history] == [
                (n, Outcome.LOST) for n in range(1, MAX_ATTEMPTS + 1)
            ], (job_type, history)
            starts = [r for r in records if r["job_id"] == job_id and r["kind"] == "start"]
            ends = [r for r in records if r["job_id"] == job_id and r["kind"] == "end"]
            assert sorted(r["attempt"] for r in starts) == list(range(1, MAX_ATTEMPTS + 1)), starts
            assert not ends, ends
            assert len({r["pid"] for r in starts}) == MAX_ATTEMPTS, "each attempt in a new process"
            assert [r["pid"] for r in starts] == [pid_of(a.worker_id) for a in history]
            dead_pids = {kill.pid for kill in deaths}
            assert {r["pid"] for r in starts} <= dead_pids, "each attempt cost its process"
    # Each poison attempt took exactly one process down, and nothing else took any.
    assert len(kill_fleet.deaths) == MAX_ATTEMPTS * len(poison["ledger.suicide"])
    assert len(mem_fleet.deaths) == MAX_ATTEMPTS * len(poison["ledger.hog"])
    assert mem_fleet.peak_rss < ADDRESS_SPACE
    assert figures["mem_deaths_by_hog_cap"] == 0, "the hog was never stopped from outside"

    statuses = {"dead": len(poisoned), "succeeded": len(bystanders)}
    assert figures["statuses"] == statuses
    for key in ("lost", "stuck", "completed_twice", "double_claim", "foreign", "unrecovered"):
        assert figures[key] == 0, (key, verdict.sample(key))
    assert set(figures["dup_exec_causes"]) <= {"lost"}, figures["dup_exec_causes"]
    assert not broken(processes), broken(processes)
