"""A worker's LISTEN connection is cut, again and again, while jobs arrive: notifications sent
while it is down are lost, yet every job is picked up within the poll interval plus 1 s.

One ``jobq worker`` (``--poll-interval 1``, a pool of 2 beside its LISTEN connection) runs the
ledger handlers; the test enqueues a job
every 0.1 s through its own JobQueue (which runs no pool: only the worker can pick jobs up) and
meanwhile terminates the worker's LISTEN backend (the pid the worker logs in ``listen_started``,
checked against ``pg_stat_activity``) every 1-2 s: 6 times in the fast tier, 15 in the full.
Right after each cut it enqueues 3 jobs at once, whose NOTIFY nobody hears (the worker waits
0.1 s before it connects again).
Each job's latency runs from its enqueue (the commit, which sends the NOTIFY) to its ledger
``start``. What saves the jobs whose NOTIFY was lost: the listener calls ``wake(None)`` after
it listens again, and the dispatcher polls every second anyway.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import psycopg
import pytest

from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.conftest import postgres_dsn
from tests.faults.checker import check, percentile, write_figures
from tests.faults.tier import tier
from tests.fleet import broken, launcher, ledger_queue
from tests.helpers import JobqProcess, wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow

POLL_INTERVAL = 1.0
LATENCY_BOUND = POLL_INTERVAL + 1.0
ENQUEUE_EVERY = 0.1
BURST = 3  # jobs enqueued at once after each cut, before the worker can listen again


def listen_backend(dsn: str, logged: int) -> str | None:
    """The application_name of backend ``logged`` in pg_stat_activity (None: no such backend)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT application_name FROM pg_stat_activity "
            "WHERE pid = %s AND datname = current_database()",
            (logged,),
        ).fetchone()
        return None if row is None else str(row[0])


def terminate(dsn: str, backend: int) -> bool:
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_terminate_backend(%s)", (backend,)).fetchone()
        return bool(row and row[0])


@pytest.mark.timeout(120)
async def test_jobs_are_picked_up_within_the_poll_when_listen_is_cut(
    pg_url: str,
    tmp_path: Path,
    processes: list[JobqProcess],
    request: pytest.FixtureRequest,
) -> None:
    dsn = postgres_dsn()
    cuts_wanted = tier().listen_cuts
    rng = random.Random()
    ledger = tmp_path / "ledger.jsonl"
    launch = launcher(processes, tmp_path, pg_url, ledger)
    # A pool beside the LISTEN connection, so that most calls run on pooled connections and
    # the cuts mostly hit the LISTEN, which is what this test is about. A call may still be
    # running on the LISTEN connection when it is cut (it is lent to calls while it only
    # waits): a claim cut after its commit is recovered before the next claim
    # (`claim_recovered`), not left to its lease. (The outage tests,
    # tests/faults/test_postgres_outages.py, cut every connection of default processes.)
    worker = launch(
        "worker",
        f"worker --workers 4 --queue-capacity 4 --poll-interval {POLL_INTERVAL:g} --db-pool-size 2",
    )
    await worker.wait_event("listen_started", timeout=30)

    enqueued: dict[str, float] = {}  # job id -> monotonic time its enqueue returned
    in_gap: set[str] = set()  # jobs enqueued while the LISTEN connection was down
    listening = asyncio.Event()
    listening.set()
    stop = asyncio.Event()

    async with ledger_queue(pg_url) as producer:

        async def enqueue_one() -> None:
            gap = not listening.is_set()
            job = await producer.enqueue("ledger.sleep", {"seconds": 0})
            enqueued[job.id] = time.monotonic()
            if gap or not listening.is_set():
                in_gap.add(job.id)

        async def produce() -> None:
            while not stop.is_set():
                await enqueue_one()
                await asyncio.sleep(ENQUEUE_EVERY)

        async def flowing(since: float, jobs: int = 10) -> None:
            """Wait until ``jobs`` jobs enqueued after ``since`` have started: the stream
            runs through the LISTEN connection of the moment."""

            def started() -> bool:
                fresh = {job_id for job_id, t in enqueued.items() if t >= since}
                ran = {r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start"}
                return len(fresh & ran) >= jobs

            await wait_for(started, timeout=30, interval=0.05, what=f"{jobs} jobs of the stream")

        cut: list[dict[str, float | int]] = []
        began = time.monotonic()
        producing = asyncio.create_task(produce())
        try:
            await flowing(began)
            for _ in range(cuts_wanted):
                assert not producing.done(), producing
                started = worker.find("listen_started")
                backend = int(started[-1]["backend_pid"])
                name = await asyncio.to_thread(listen_backend, dsn, backend)
                assert name == "jobq-listen", (backend, name)
                listening.clear()
                t = time.monotonic()
                assert await asyncio.to_thread(terminate, dsn, backend)
                for _ in range(BURST):  # NOTIFYs sent while nobody listens
                    await enqueue_one()

                def relistened(seen: int = len(started)) -> bool:
                    return len(worker.find("listen_started")) > seen

                await wait_for(relistened, timeout=10, interval=0.01, what="LISTEN again")
                listening.set()
                cut.append({"backend": backend, "relisten_s": round(time.monotonic() - t, 3)})
                await asyncio.sleep(rng.uniform(1.0, 2.0))
            await flowing(time.monotonic())
        finally:
            stop.set()
            await asyncio.wait_for(producing, 30)

        async def all_started() -> bool:
            started = {r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start"}
            return started >= set(enqueued)

        await wait_for(all_started, timeout=LATENCY_BOUND + 5, interval=0.1, what="every job")

        async def all_done() -> bool:
            return (await statuses(producer)).get(JobState.SUCCEEDED, 0) == len(enqueued)

        await wait_for(all_done, timeout=10, interval=0.1, what="every job to succeed")
        records = read_ledger(ledger)
        verdict = await check(producer.store, records, accepted=enqueued, processes=[worker])
    elapsed = time.monotonic() - began

    first_start: dict[str, float] = {}
    for r in records:
        if r["kind"] == "start":
            first_start[r["job_id"]] = min(r["t"], first_start.get(r["job_id"], r["t"]))
    latency = {job_id: first_start[job_id] - t for job_id, t in enqueued.items()}
    gap_latency = [latency[job_id] for job_id in in_gap]
    slowest = sorted(latency.items(), key=lambda item: item[1])[-3:]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    figures = {
        **verdict.figures,
        "cuts": len(cut),
        "relisten_s": [c["relisten_s"] for c in cut],
        "poll_interval_s": POLL_INTERVAL,
        "pickup_p50_s": rounded(percentile(list(latency.values()), 50)),
        "pickup_p99_s": rounded(percentile(list(latency.values()), 99)),
        "pickup_max_s": rounded(max(latency.values())),
        "jobs_in_gaps": len(in_gap),
        "gap_pickup_max_s": rounded(max(gap_latency, default=None)),
        "listen_lost": len(worker.find("listen_lost")),
        "seconds": round(elapsed, 1),
    }
    write_figures(figures, request, backend="postgres")

    assert len(cut) == cuts_wanted
    assert len(worker.find("listen_started")) == cuts_wanted + 1
    assert verdict.figures["lost"] == 0, verdict.sample("lost")
    assert verdict.figures["stuck"] == 0, verdict.sample("stuck")
    assert verdict.figures["dup_exec"] == 0, verdict.sample("dup_exec")
    assert max(latency.values()) <= LATENCY_BOUND, slowest
    assert not broken([worker])
    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit(30) == 0, worker.log_text()[-3000:]
