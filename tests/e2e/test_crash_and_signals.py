"""Real ``jobq`` processes, real signals: a killed worker's jobs come back; SIGTERM shuts down in
order; a restart loses nothing. The handlers write a ledger (tests/apps/ledger.py) that says
which process ran which attempt, so "exactly once" is checked, not assumed."""

from __future__ import annotations

import os
import signal
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from jobq import JobQueue
from jobq.domain.job import Lease, Outcome
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.contract.support import complete
from tests.fleet import Launch
from tests.helpers import wait_for
from tests.jobs import statuses

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet_url(db_url: str) -> str:
    """These processes, and the producer, share one SQLite file."""
    return db_url


async def post_sleep(http: httpx.AsyncClient, seconds: float, *, priority: int = 0) -> str:
    job = {"type": "ledger.sleep", "priority": priority, "payload": {"seconds": seconds}}
    answer = await http.post("/jobs", json=job)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_a_worker_killed_mid_job_loses_nothing(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    jobs = [await producer.enqueue("ledger.sleep", {"seconds": 1.5}) for _ in range(4)]
    first = launch("first", "worker --workers 4 --lease-seconds 2 --poll-interval 0.1")
    await wait_for(lambda: len(read_ledger(ledger)) == 4, timeout=20, what="4 jobs started")
    os.kill(first.pid, signal.SIGKILL)
    assert await first.wait_exit(10) == -signal.SIGKILL
    running = await statuses(producer)
    assert running == {JobState.RUNNING: 4}, "the dead worker's jobs still hold their leases"

    second = launch("second", "worker --workers 4 --lease-seconds 2 --poll-interval 0.1")
    for job in jobs:
        done = await producer.wait(job.id, timeout=30)
        assert done.status is JobState.SUCCEEDED and done.attempt == 2
        lost, won = await producer.attempts(job.id)
        assert lost.outcome is Outcome.LOST and lost.worker_id is not None
        assert lost.worker_id.split(":")[1] == str(first.pid)
        assert won.outcome is Outcome.SUCCEEDED and f":{second.pid}:" in (won.worker_id or "")
        # The killed worker's lease is dead: a late write under it changes nothing.
        stale = Lease(job.id, lost.worker_id, 1)  # type: ignore[arg-type]
        assert not await complete(
            producer.store, stale, "late", slot=lost.worker_id, started_at=done.created_at
        )
        assert (await producer.get(job.id)).result == {"pid": second.pid}

    records = read_ledger(ledger)
    ends = Counter(r["job_id"] for r in records if r["kind"] == "end")
    assert ends == {job.id: 1 for job in jobs}, "each job finished exactly once"
    starts = Counter((r["job_id"], r["pid"]) for r in records if r["kind"] == "start")
    assert starts == {
        **{(j.id, first.pid): 1 for j in jobs},
        **{(j.id, second.pid): 1 for j in jobs},
    }
    second.signal(signal.SIGTERM)
    assert await second.wait_exit(20) == 0


async def test_sigterm_stops_http_then_drains_the_pool_in_order(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    serve = launch(
        "serve",
        "serve --port 0 --workers 4 --prefetch 3 --shutdown-timeout 2 --poll-interval 0.1",
    )
    port = await serve.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        short = [await post_sleep(http, 0.8, priority=10) for _ in range(2)]
        long = [await post_sleep(http, 60, priority=10) for _ in range(2)]
        waiting = [await post_sleep(http, 60) for _ in range(3)]
    await wait_for(lambda: len(read_ledger(ledger)) == 4, timeout=20, what="4 jobs started")
    await wait_for(
        lambda: statuses_are(producer, {JobState.RUNNING: 7}),
        timeout=10,
        what="3 more jobs claimed into the buffer",
    )

    serve.signal(signal.SIGTERM)
    await serve.wait_event("pool_stopping", timeout=10)
    with pytest.raises(ConnectionRefusedError):  # the listener closed before the pool stopped
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert await serve.wait_exit(20) == 0

    assert JobState.RUNNING not in await statuses(producer), "no job may be left running"
    for job_id in short:
        job = await producer.get(job_id)
        assert job.status is JobState.SUCCEEDED and job.attempt == 1, "finished in the grace"
    for job_id in long:
        job = await producer.get(job_id)
        assert job.status is JobState.PENDING and job.attempt == 0, "handed back, attempt kept"
        assert [a.outcome for a in await producer.attempts(job_id)] == [Outcome.INTERRUPTED]
    for job_id in waiting:
        job = await producer.get(job_id)
        assert job.status is JobState.PENDING and job.attempt == 0
        assert await producer.attempts(job_id) == []
    released = serve.find("job_released")
    assert len(released) == 5
    assert serve.find("shutdown_finished", exit_status=0)


async def statuses_are(jq: JobQueue, expected: dict[JobState, int]) -> bool:
    return await statuses(jq) == expected


async def test_a_second_signal_exits_at_once(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    job = await producer.enqueue("ledger.sleep", {"seconds": 60})
    worker = launch("worker", "worker --workers 1 --shutdown-timeout 60 --poll-interval 0.1")
    await wait_for(lambda: len(read_ledger(ledger)) == 1, timeout=20, what="the job to start")
    worker.signal(signal.SIGTERM)
    await worker.wait_event("pool_stopping", timeout=10)
    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit(5) == 128 + signal.SIGTERM
    held = await producer.get(job.id)
    assert held.status is JobState.RUNNING, "its lease will bring it back"
    assert worker.find("shutdown_forced")


async def test_stop_and_start_again_loses_nothing(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    first = launch("first", "serve --port 0 --workers 4 --poll-interval 0.1")
    port = await first.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        answer = await http.post(
            "/jobs/batch",
            json={
                "jobs": [{"type": "ledger.sleep", "payload": {"seconds": 0.2}} for _ in range(40)]
            },
        )
        assert answer.status_code == 201
        ids = [job["id"] for job in answer.json()["jobs"]]
    await wait_for(
        lambda: sum(r["kind"] == "end" for r in read_ledger(ledger)) >= 8,
        timeout=20,
        what="some jobs to finish",
    )
    first.signal(signal.SIGTERM)
    assert await first.wait_exit(30) == 0
    after_stop = await statuses(producer)
    assert JobState.RUNNING not in after_stop
    assert after_stop.get(JobState.PENDING, 0) > 0, "stopped mid-way: some work remains"

    second = launch("second", "serve --port 0 --workers 4 --poll-interval 0.1")
    port = await second.port()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

        async def all_succeeded() -> bool:
            totals = (await http.get("/stats")).json()["totals"]
            return bool(totals["succeeded"] == 40)

        await wait_for(all_succeeded, timeout=60, what="all 40 jobs to succeed")
    records = read_ledger(ledger)
    assert Counter(r["job_id"] for r in records if r["kind"] == "end") == dict.fromkeys(ids, 1)
    assert Counter(r["job_id"] for r in records if r["kind"] == "start") == dict.fromkeys(ids, 1)
    assert {r["pid"] for r in records} == {first.pid, second.pid}
    second.signal(signal.SIGINT)
    assert await second.wait_exit(30) == 0
