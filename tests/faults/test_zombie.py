"""A zombie worker: stopped (SIGSTOP) while it holds running jobs, until their leases run out
and another worker has run them to their end; then continued (SIGCONT). Its late writes change
nothing, and it counts each one as a lost lease; runs still under way when it wakes are stopped
at its first heartbeat and write nothing."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobq import JobQueue
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.faults.checker import Pause, check, write_figures
from tests.faults.tier import tier
from tests.fleet import Launch, broken, pid_of, stop_all, worker_args
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow

LEASE = 2.0
JOB_SECONDS = 3.0
#: for the runs that are stopped: heartbeats every second; a first attempt a minute long
LINGER_LEASE = 3.0
LINGER_SECONDS = 60.0


async def leases_lost_metric(port: int) -> float:
    """The sum of ``jobq_leases_lost_total`` over its labels, from the worker's /metrics."""
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200, answer.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name == "jobq_leases_lost_total"
    )


def started(ledger: Path, pid: int) -> set[str]:
    """The jobs whose handler the process ``pid`` started."""
    return {r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start" and r["pid"] == pid}


@pytest.mark.timeout(120)
async def test_a_stopped_worker_resumed_after_its_leases_changes_nothing(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """Worker Z (2-second leases, its metrics on a port of its own) starts ``zombie_jobs``
    jobs of 3 s and is SIGSTOPped. Worker W starts; its reaper finds the leases expired, and it
    runs every job to success (attempt 2). Then Z gets SIGCONT: its handlers end (ledger ``end``
    records, attempt 1) and it tries to record their success under its dead leases, or drops
    it unwritten if its first heartbeat found the leases lost before that.

    Asserted: each job, its result and its attempts are what they were before Z woke (W's
    success; attempt 1 lost by Z); Z logs ``lease_lost`` for every job and its
    ``jobq_leases_lost_total`` counts each exactly once; nothing overlapped (the time Z was
    stopped is cut out of its runs), nothing is lost or completed twice; both exit 0.
    """
    count = tier().zombie_jobs
    args = f"--workers {count} --queue-capacity 1 --lease-seconds {LEASE} --poll-interval 0.1"
    ids = [
        (await producer.enqueue("ledger.sleep", {"seconds": JOB_SECONDS})).id for _ in range(count)
    ]
    zombie = launch("zombie", worker_args(store_url, f"{args} --metrics-port 0"))
    metrics_port = int((await zombie.wait_event("metrics_listening", timeout=30))["port"])
    assert await leases_lost_metric(metrics_port) == 0

    await wait_for(lambda: started(ledger, zombie.pid) == set(ids), timeout=30, what="Z's starts")
    stopped = time.monotonic()
    zombie.signal(signal.SIGSTOP)
    other = launch("other", worker_args(store_url, args))

    async def all_succeeded() -> bool:
        return await statuses(producer) == {JobState.SUCCEEDED: count}

    await wait_for(all_succeeded, timeout=60, interval=0.1, what="W to run every job")
    before = {job_id: await producer.get(job_id) for job_id in ids}
    history_before = {job_id: await producer.attempts(job_id) for job_id in ids}
    stopped_for = time.monotonic() - stopped
    assert stopped_for > LEASE, "the leases ran out while Z was stopped"

    continued = time.monotonic()
    zombie.signal(signal.SIGCONT)

    def refused() -> set[str]:  # the writes Z tried after waking, each refused or dropped
        return {
            e["job_id"]
            for e in zombie.find("lease_lost")
            if "outcome_discarded" in e or e.get("run_stopped")
        }

    await wait_for(lambda: refused() == set(ids), timeout=30, what="Z's late writes refused")
    lost_metric = await leases_lost_metric(metrics_port)
    codes = await stop_all([zombie, other])
    assert codes == {zombie.pid: 0, other.pid: 0}, codes

    records = read_ledger(ledger)
    verdict = await check(
        producer.store,
        records,
        accepted=ids,
        pauses=[Pause(zombie.pid, stopped, continued)],
        processes=processes,
    )
    figures = verdict.figures | {
        "zombie_jobs": count,
        "stopped_s": round(continued - stopped, 2),
        "zombie_leases_lost_metric": lost_metric,
        "zombie_lease_lost_events": len(zombie.find("lease_lost")),
    }
    write_figures(figures, request)

    for job_id in ids:  # Z's late writes changed nothing
        assert verdict.jobs[job_id] == before[job_id]
        assert verdict.attempts[job_id] == history_before[job_id]
        job = verdict.jobs[job_id]
        assert job.status is JobState.SUCCEEDED and job.attempt == 2
        assert job.result == {"pid": other.pid} and pid_of(job.worker_id) == other.pid
        history = verdict.attempts[job_id]
        assert [(a.attempt, a.outcome, pid_of(a.worker_id)) for a in history] == [
            (1, Outcome.LOST, zombie.pid),
            (2, Outcome.SUCCEEDED, other.pid),
        ]
        mine = [(r["kind"], r["attempt"]) for r in records if r["job_id"] == job_id]
        assert sorted(mine) == [("end", 1), ("end", 2), ("start", 1), ("start", 2)]
        late = [r for r in records if r["job_id"] == job_id and r["pid"] == zombie.pid]
        assert [r["kind"] for r in late] == ["start", "end"]
        assert late[1]["t"] > continued, "Z's handler ended only after it was continued"
    assert lost_metric == count, "each lost lease counted once in Z's metric"
    assert figures["lease_lost"] == count
    assert figures["dup_exec"] == count and figures["dup_exec_causes"] == {"lost": count}
    for key in ("lost", "stuck", "completed_twice", "double_claim", "foreign"):
        assert figures[key] == 0, (key, verdict.sample(key))
    assert not other.find("lease_lost"), "W lost nothing"
    assert not broken(processes), broken(processes)


@pytest.mark.timeout(120)
async def test_a_stopped_worker_resumed_after_its_jobs_were_taken_stops_their_runs(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """Worker Z (3-second leases, so a heartbeat every second) starts ``zombie_jobs`` jobs whose
    first attempt would run a minute, half of them ``async def``, half plain ``def``, and is
    SIGSTOPped. Worker W's reaper finds the leases
    expired, and W runs every job to success (attempt 2 returns at once). Then Z gets SIGCONT:
    its first heartbeat is refused, and it stops every run (``ledger.linger``: the ``async
    def`` is cancelled; ``ledger.linger_def``: the thread wakes from ``ctx.wait_cancelled``).

    Asserted: each of Z's runs records ``stopped`` (``ctx.cancelled`` true) within one
    heartbeat interval of the SIGCONT, and never ``end``; Z writes nothing (each job, its result
    and its attempts as they were before Z woke: attempt 1 lost, attempt 2 W's success); Z logs
    ``lease_lost`` with ``run_stopped`` for every job, tries no write (no ``outcome_discarded``)
    and counts each loss once in ``jobq_leases_lost_total``; nothing overlapped; both exit 0.
    """
    count = tier().zombie_jobs
    heartbeat = LINGER_LEASE / 3
    args = (
        f"--workers {count} --queue-capacity 1 --lease-seconds {LINGER_LEASE} --poll-interval 0.1"
    )
    kinds = ["ledger.linger", "ledger.linger_def"]
    ids = [
        (await producer.enqueue(kinds[n % 2], {"seconds": LINGER_SECONDS})).id for n in range(count)
    ]
    zombie = launch("zombie", worker_args(store_url, f"{args} --metrics-port 0"))
    metrics_port = int((await zombie.wait_event("metrics_listening", timeout=30))["port"])
    await wait_for(lambda: started(ledger, zombie.pid) == set(ids), timeout=30, what="Z's starts")
    stopped = time.monotonic()
    zombie.signal(signal.SIGSTOP)
    other = launch("other", worker_args(store_url, args))

    async def all_succeeded() -> bool:
        return await statuses(producer) == {JobState.SUCCEEDED: count}

    await wait_for(all_succeeded, timeout=60, interval=0.1, what="W to run every job")
    before = {job_id: await producer.get(job_id) for job_id in ids}
    history_before = {job_id: await producer.attempts(job_id) for job_id in ids}

    continued = time.monotonic()
    zombie.signal(signal.SIGCONT)

    def stops() -> dict[str, dict[str, Any]]:
        return {r["job_id"]: r for r in read_ledger(ledger) if r["kind"] == "stopped"}

    def dropped() -> set[str]:
        return {e["job_id"] for e in zombie.find("lease_lost") if e.get("run_stopped")}

    await wait_for(lambda: set(stops()) == set(ids), timeout=30, what="Z's runs to stop")
    await wait_for(lambda: dropped() == set(ids), timeout=10, what="Z to log each stop")
    lost_metric = await leases_lost_metric(metrics_port)
    codes = await stop_all([zombie, other])
    assert codes == {zombie.pid: 0, other.pid: 0}, codes

    records = read_ledger(ledger)
    verdict = await check(
        producer.store,
        records,
        accepted=ids,
        pauses=[Pause(zombie.pid, stopped, continued)],
        processes=processes,
    )
    stopped_in = [round(r["t"] - continued, 3) for r in stops().values()]
    figures = verdict.figures | {
        "zombie_jobs": count,
        "stopped_s": round(continued - stopped, 2),
        "runs_stopped_in_s": sorted(stopped_in),
        "zombie_leases_lost_metric": lost_metric,
    }
    write_figures(figures, request)

    assert max(stopped_in) < heartbeat, f"runs stopped {stopped_in} s after SIGCONT"
    for job_id in ids:  # Z wrote nothing
        assert verdict.jobs[job_id] == before[job_id]
        assert verdict.attempts[job_id] == history_before[job_id]
        job = verdict.jobs[job_id]
        assert job.status is JobState.SUCCEEDED and job.attempt == 2
        assert job.result == {"pid": other.pid}
        history = verdict.attempts[job_id]
        assert [(a.attempt, a.outcome, pid_of(a.worker_id)) for a in history] == [
            (1, Outcome.LOST, zombie.pid),
            (2, Outcome.SUCCEEDED, other.pid),
        ]
        late = [r for r in records if r["job_id"] == job_id and r["pid"] == zombie.pid]
        assert [(r["kind"], r["attempt"]) for r in late] == [("start", 1), ("stopped", 1)]
        assert late[1]["cancelled"] is True and late[1]["t"] > continued
    assert not [e for e in zombie.find("lease_lost") if "outcome_discarded" in e], "no write"
    assert lost_metric == count, "each lost lease counted once in Z's metric"
    assert figures["lease_lost"] == count
    assert figures["dup_exec"] == count and figures["dup_exec_causes"] == {"lost": count}
    for key in ("lost", "stuck", "completed_twice", "double_claim", "foreign"):
        assert figures[key] == 0, (key, verdict.sample(key))
    assert not other.find("lease_lost"), "W lost nothing"
    assert not broken(processes), broken(processes)
