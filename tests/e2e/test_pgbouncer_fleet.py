"""A fleet larger than the database's connection limit, through a real PgBouncer in transaction
mode; and a worker that starts before its database is reachable.

PgBouncer (tests/pgbouncer.py) holds at most ``SERVER_CONNECTIONS`` connections to the server,
whatever the number of jobq processes behind it; every process uses ``JOBQ_DB_POOLER=
transaction`` and ``JOBQ_NOTIFY=poll`` (a LISTEN through a transaction pooler hears nothing).
The test's own connections (the producer, the checker) go straight to the server."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.faults.checker import check
from tests.fleet import APP, broken, launcher, ledger_queue, stop_all
from tests.helpers import JobqProcess, wait_for
from tests.jobs import all_jobs, statuses
from tests.pgbouncer import PgBouncer

BEHIND_PGBOUNCER = "--db-pooler transaction --notify poll"
WORKER_PROCESSES = 40
SERVER_CONNECTIONS = 20
BATCH_JOBS = 300
SUCCEEDED = JobState.SUCCEEDED


@pytest.mark.slow
@pytest.mark.timeout(420)
async def test_forty_workers_and_an_api_share_twenty_server_connections(
    pg_url: str,
    pgbouncer: PgBouncer,
    processes: list[JobqProcess],
    tmp_path: Path,
    ledger: Path,
) -> None:
    """40 ``jobq worker`` processes (2 workers each) and ``jobq serve --workers 0`` through a
    PgBouncer that holds at most 20 server connections. While the workers start and run a few
    hundred short jobs, the API answers /ready and POST /jobs every time; no process exits;
    every job runs once; PgBouncer never holds more than its 20."""
    pgbouncer.server_connections = SERVER_CONNECTIONS
    await pgbouncer.start()
    async with ledger_queue(pg_url) as producer:  # migrates, straight to the server
        launch = launcher(processes, tmp_path, pgbouncer.url, ledger)
        api = launch("api", f"serve --port 0 --workers 0 {BEHIND_PGBOUNCER}")
        port = await api.port()

        accepted: list[str] = []
        answers: dict[str, list[int | str]] = {"ready": [], "enqueue": []}
        peak = 0
        polling = True

        async def poll_api(http: httpx.AsyncClient) -> None:
            """/ready and POST /jobs, over and over, until told to stop."""
            nonlocal peak
            while polling:
                for kind, call in (
                    ("ready", http.get("/ready")),
                    ("enqueue", http.post("/jobs", json=short_job())),
                ):
                    try:
                        answer = await call
                    except httpx.TransportError as exc:
                        answers[kind].append(type(exc).__name__)
                        continue
                    answers[kind].append(answer.status_code)
                    if kind == "enqueue" and answer.status_code == 201:
                        accepted.append(answer.json()["id"])
                peak = max(peak, pgbouncer.server_connections_now())
                await asyncio.sleep(0.1)

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            poller = asyncio.create_task(poll_api(http))
            try:
                args = f"worker --workers 2 --poll-interval 0.5 {BEHIND_PGBOUNCER}"
                workers = [launch(f"worker{i}", args) for i in range(1, WORKER_PROCESSES + 1)]
                for worker in workers:  # meanwhile the poller's jobs run on those already up
                    await worker.wait_event("pool_started", timeout=180)
                began = time.monotonic()
                batch = await http.post("/jobs/batch", json={"jobs": [short_job()] * BATCH_JOBS})
                assert batch.status_code == 201, batch.text
                batch_ids = {job["id"] for job in batch.json()["jobs"]}
                accepted.extend(batch_ids)

                async def batch_done() -> bool:
                    for process in [api, *workers]:
                        assert process.proc.poll() is None, f"{process.log_path.name} exited"
                    done = {job.id for job in await all_jobs(producer) if job.status is SUCCEEDED}
                    return batch_ids <= done

                await wait_for(batch_done, timeout=120, interval=0.2, what="the batch to run")
                drained_in = time.monotonic() - began
            finally:
                polling = False
                await poller

            async def all_done() -> bool:  # the poller's jobs too, now that it has stopped
                counts = await statuses(producer)
                return counts.get(SUCCEEDED, 0) == len(accepted) == sum(counts.values())

            await wait_for(all_done, timeout=60, interval=0.2, what="every job to succeed")

        fleet = [api, *workers]
        assert all(p.proc.poll() is None for p in fleet), "no process exits"
        assert answers["ready"] and set(answers["ready"]) == {200}, answers["ready"]
        assert answers["enqueue"] and set(answers["enqueue"]) == {201}, answers["enqueue"]
        verdict = await check(
            producer.store, read_ledger(ledger), accepted=accepted, processes=fleet
        )
        figures = verdict.figures
        for name in ("lost", "stuck", "completed_twice", "dup_exec", "double_claim"):
            assert figures[name] == 0, (name, verdict.sample(name))
        assert 0 < peak <= SERVER_CONNECTIONS, peak
        ran_in = {record["pid"] for record in read_ledger(ledger)}
        assert len(ran_in) >= WORKER_PROCESSES // 4, "the fleet shared the work"
        print(
            f"\n{len(accepted)} jobs; {len(ran_in)} of {WORKER_PROCESSES} worker processes ran "
            f"some; PgBouncer held at most {peak} server connections; the batch, enqueued once "
            f"every pool had started, was drained in {drained_in:.1f} s"
        )
        codes = await stop_all(fleet, timeout=60)
        assert set(codes.values()) == {0}, codes
        assert broken(fleet) == {}


async def test_a_worker_started_before_its_database_waits_then_works(
    pg_url: str, pgbouncer: PgBouncer, tmp_path: Path, processes: list[JobqProcess], ledger: Path
) -> None:
    """The worker's database (PgBouncer's port) refuses connections at first: the worker keeps
    trying, says so in its log and on /ready (503) and does not exit; once PgBouncer is up it
    opens the store, /ready answers 200, and it runs the job that waited."""
    worker = JobqProcess(
        [
            "worker",
            "--workers",
            "2",
            "--metrics-port",
            "0",
            "--app",
            APP,
            *BEHIND_PGBOUNCER.split(),
        ],
        env={"JOBQ_DATABASE_URL": pgbouncer.url, "JOBQ_TEST_LEDGER": str(ledger)},
        log_path=tmp_path / "worker.log",
    )
    processes.append(worker)
    waiting = await worker.wait_event("store_waiting", timeout=30, attempt=3)
    assert "Connection refused" in waiting["error"], waiting
    [ready_url] = waiting["ready_urls"]
    async with httpx.AsyncClient(base_url=ready_url, timeout=10) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["error"]["code"] == "not_ready"
        assert "cannot reach the store yet" in ready.json()["error"]["message"]

        async with ledger_queue(pg_url) as producer:  # straight to the server: migrates
            made = await producer.enqueue("ledger.sleep", {"seconds": 0})
            assert worker.proc.poll() is None, "still trying, not exited"
            await pgbouncer.start()
            opened = await worker.wait_event("store_opened", timeout=30)
            assert opened["attempts"] >= 4
            await worker.wait_event("metrics_listening", timeout=10)
            assert (await http.get("/ready")).status_code == 200

            async def ran() -> bool:
                return (await producer.get(made.id)).status is JobState.SUCCEEDED

            await wait_for(ran, timeout=20, what="the job that waited to run")
        assert [r["pid"] for r in read_ledger(ledger) if r["kind"] == "end"] == [worker.pid]
    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit(20) == 0
    assert broken([worker]) == {}
    assert "Traceback" not in worker.log_text()


def short_job() -> dict[str, object]:
    return {"type": "ledger.sleep", "payload": {"seconds": 0.05}}
