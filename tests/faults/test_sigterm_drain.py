"""SIGTERM drain: a worker told to stop lets its short jobs finish (each once, in that process)
and hands its long jobs back within the grace (plus a second), their attempt given back; a
second worker process then runs them."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from jobq import JobQueue
from jobq.domain.job import Outcome
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.faults.checker import check, write_figures
from tests.faults.tier import tier
from tests.fleet import Launch, broken, pid_of, stop_all, worker_args
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow

GRACE = 3.0
SHORT = 1.0  # seconds: finishes well within the grace
LONG = GRACE + 2.0  # outlives the grace


@pytest.mark.timeout(120)
async def test_sigterm_finishes_short_jobs_and_hands_long_ones_to_another_worker(
    producer: JobQueue,
    launch: Launch,
    ledger: Path,
    store_url: str,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    """Worker A runs ``drain_short`` jobs of 1 s and ``drain_long`` jobs of 5 s at once (one
    worker each), with a 3-second grace. SIGTERM to A, and worker B starts:

    - every short job ends succeeded on attempt 1: one ``start`` and one ``end``, both in A;
    - every long job is ``pending`` again within grace + 1 s of the signal (A's ``interrupted``
      attempt record is written by then), with attempt 0 (its attempt given back), and then
      runs to its end in B, on attempt 1, exactly once more;
    - A exits 0; nothing else runs twice, nothing overlaps, nothing is lost.
    """
    faults = tier()
    count = faults.drain_short + faults.drain_long
    args = f"--queue-capacity 1 --lease-seconds 30 --poll-interval 0.1 --shutdown-timeout {GRACE}"
    short = [
        (await producer.enqueue("ledger.sleep", {"seconds": SHORT}, priority=1)).id
        for _ in range(faults.drain_short)
    ]
    long = [
        (await producer.enqueue("ledger.sleep", {"seconds": LONG}, priority=1)).id
        for _ in range(faults.drain_long)
    ]
    a = launch("a", worker_args(store_url, f"--workers {count} {args}"))

    def started_in(pid: int) -> set[str]:
        return {
            r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start" and r["pid"] == pid
        }

    await wait_for(
        lambda: started_in(a.pid) == {*short, *long}, timeout=30, what="A to start every job"
    )
    assert await statuses(producer) == {JobState.RUNNING: count}, "A holds every job"

    signalled_wall, signalled = time.time(), time.monotonic()
    a.signal(signal.SIGTERM)
    # B starts now: nothing is due until A hands something back.
    b = launch("b", worker_args(store_url, f"--workers {count} {args}"))

    async def long_ones_handed_back() -> bool:
        for job_id in long:
            if not any(x.outcome is Outcome.INTERRUPTED for x in await producer.attempts(job_id)):
                return False
        return True

    await wait_for(
        long_ones_handed_back,
        timeout=GRACE + 1.0,
        interval=0.02,
        what=f"the long jobs back in the queue within {GRACE + 1.0} s",
    )
    handed_back_after = time.monotonic() - signalled
    assert await a.wait_exit(GRACE + 10) == 0, a.log_text()[-3000:]
    a_exited = time.monotonic()
    assert a.find("shutdown_finished", exit_status=0)

    async def long_ones_done() -> bool:
        done = [(await producer.get(job_id)).status for job_id in long]
        return done == [JobState.SUCCEEDED] * len(long)

    await wait_for(long_ones_done, timeout=LONG + 20, interval=0.1, what="B to run the long jobs")
    codes = await stop_all([b])
    assert codes == {b.pid: 0}

    records = read_ledger(ledger)
    verdict = await check(
        producer.store,
        records,
        accepted=[*short, *long],
        ended={a.pid: a_exited},
        processes=processes,
    )
    released_at = [
        x.finished_at.timestamp() - signalled_wall
        for job_id in long
        for x in verdict.attempts[job_id]
        if x.outcome is Outcome.INTERRUPTED and x.finished_at is not None
    ]
    figures = verdict.figures | {
        "grace_s": GRACE,
        "short_jobs": len(short),
        "long_jobs": len(long),
        "handed_back_seen_after_s": round(handed_back_after, 3),
        "handed_back_max_s": round(max(released_at), 3),
        "released_logged_by_a": len(a.find("job_released", interrupted=True)),
    }
    write_figures(figures, request)

    assert figures["statuses"] == {"succeeded": count}
    for key in ("lost", "stuck", "completed_twice", "double_claim", "foreign", "lease_lost"):
        assert figures[key] == 0, (key, verdict.sample(key))
    assert figures["dup_exec"] == len(long), "only the long jobs ran again"
    assert figures["dup_exec_causes"] == {"interrupted": len(long)}
    assert max(released_at) <= GRACE + 1.0, released_at
    assert min(released_at) >= GRACE - 0.5, "the long jobs had their grace before the cut"

    starts = Counter((r["job_id"], r["pid"], r["attempt"]) for r in records if r["kind"] == "start")
    ends = Counter((r["job_id"], r["pid"], r["attempt"]) for r in records if r["kind"] == "end")
    for job_id in short:  # finished in the grace: once, in A, on attempt 1
        assert [k for k in starts if k[0] == job_id] == [(job_id, a.pid, 1)]
        assert [k for k in ends if k[0] == job_id] == [(job_id, a.pid, 1)]
        job = verdict.jobs[job_id]
        assert job.attempt == 1 and pid_of(job.worker_id) == a.pid
        assert [x.outcome for x in verdict.attempts[job_id]] == [Outcome.SUCCEEDED]
    for job_id in long:  # cut at the grace in A, attempt given back; run again in B
        assert sorted(k for k in starts if k[0] == job_id) == sorted(
            [(job_id, a.pid, 1), (job_id, b.pid, 1)]
        )
        assert [k for k in ends if k[0] == job_id] == [(job_id, b.pid, 1)]
        job = verdict.jobs[job_id]
        assert job.attempt == 1 and pid_of(job.worker_id) == b.pid, "attempt 1 again, in B"
        history = verdict.attempts[job_id]
        assert [(x.attempt, x.outcome) for x in history] == [
            (1, Outcome.INTERRUPTED),
            (1, Outcome.SUCCEEDED),
        ]
        assert pid_of(history[0].worker_id) == a.pid and pid_of(history[1].worker_id) == b.pid
    assert figures["released_logged_by_a"] == len(long)
    assert not broken(processes), broken(processes)
