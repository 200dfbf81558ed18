"""A fleet of real ``jobq`` processes on one PostgreSQL schema: many claimers, one database.

Each test starts ``jobq worker`` and ``jobq serve`` processes with the ledger handlers
(tests/apps/ledger.py), which write a ``start`` and an ``end`` record per attempt with the
process id; the ledger and the store together say which process ran which attempt, and how
often. "Exactly once" while nothing fails, "nothing lost" when a worker is killed or the
server restarts: both are checked, not assumed."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from jobq import JobQueue
from jobq.domain.job import Job, Outcome
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.faults.pg import ports_by_pid, server_port
from tests.fleet import Launch, broken, pid_of, stop_all
from tests.helpers import JobqProcess, wait_for
from tests.jobs import all_jobs, statuses
from tests.pgcluster import make_sure_postgres_answers, pg_ctlcluster

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet_url(pg_url: str) -> str:
    """Every process of these tests, and the producer, on one PostgreSQL schema."""
    return pg_url


async def listening(*fleet: JobqProcess) -> None:
    """Every process has its pool up and LISTENing: an enqueue from anywhere wakes it."""
    for process in fleet:
        await process.wait_event("listen_started", timeout=30)


def complaints(process: JobqProcess, *, level: tuple[str, ...]) -> list[dict[str, Any]]:
    return [e for e in process.events() if e.get("level") in level]


def summary(fleet: list[JobqProcess]) -> str:
    """``pid: event x count`` of every warning and error, for assertion messages."""
    lines = []
    for process in fleet:
        counted = Counter(
            f"{e['level']}:{e['event']}" for e in complaints(process, level=("warning", "error"))
        )
        lines.append(f"{process.log_path.name} (pid {process.pid}): {dict(counted)}")
    return "\n".join(lines)


async def stop_cleanly(fleet: list[JobqProcess]) -> None:
    """SIGTERM every process (by its PID); each must shut down in order and exit 0."""
    codes = await stop_all(fleet)
    for process in fleet:
        status = codes.get(process.pid, process.proc.returncode)
        assert status == 0, (
            f"{process.log_path.name} exited {status}:\n{process.log_text()[-3000:]}"
        )
        assert process.find("shutdown_finished", exit_status=0)


# -- 1. a fleet runs every job exactly once ------------------------------------------------

FLEET_JOBS = 20_000
BATCH = 500
PYTHON_API_JOBS = 1_000  # the rest arrive over HTTP, half through each serve process


@pytest.mark.timeout(240)
async def test_a_fleet_of_six_processes_runs_every_job_exactly_once(
    launch: Launch, ledger: Path, pg_url: str
) -> None:
    """4 ``jobq worker`` and 2 ``jobq serve`` processes on one schema; 20,000 jobs arrive through
    both HTTP APIs and the Python API, and each is run once, by one process, on attempt 1.

    The serve processes run worker pools too (``--workers 4``), as ``jobq serve`` does by
    default: six claimers contend for the same rows with ``FOR UPDATE SKIP LOCKED``, and a
    serve process's own enqueues wake its own pool at once while the others hear of them by
    NOTIFY, which is the harder case for "claimed once". The share of each of the 4 worker
    processes must be more than 0 (every process takes part), not equal: who wins a claim is
    a race by design.
    """
    worker_args = "worker --workers 8 --poll-interval 0.5 --db-pool-size 6"
    serve_args = "serve --port 0 --workers 4 --poll-interval 0.5 --db-pool-size 6"
    workers = [launch(f"worker{i}", worker_args) for i in range(1, 5)]
    serves = [launch(f"serve{i}", serve_args) for i in range(1, 3)]
    fleet = [*workers, *serves]
    ports = [await serve.port() for serve in serves]
    await listening(*fleet)

    job = {"type": "ledger.sleep", "payload": {"seconds": 0}}
    http_batches = (FLEET_JOBS - PYTHON_API_JOBS) // BATCH
    submitted: list[str] = []

    async def over_http(port: int, batches: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            for _ in range(batches):
                answer = await http.post("/jobs/batch", json={"jobs": [job] * BATCH})
                assert answer.status_code == 201, answer.text
                body = answer.json()
                assert body["created"] == BATCH
                submitted.extend(created["id"] for created in body["jobs"])

    async def over_python_api() -> None:
        async with JobQueue(pg_url, accept_unknown_types=True) as client:
            for _ in range(PYTHON_API_JOBS // BATCH):
                results = await client.enqueue_many(
                    [client.new_job("ledger.sleep", {"seconds": 0}) for _ in range(BATCH)]
                )
                assert all(result.created for result in results)
                submitted.extend(result.job.id for result in results)

    began = time.monotonic()
    await asyncio.gather(
        over_http(ports[0], http_batches // 2),
        over_http(ports[1], http_batches - http_batches // 2),
        over_python_api(),
    )
    assert len(submitted) == len(set(submitted)) == FLEET_JOBS

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports[1]}", timeout=30) as http:

        async def all_succeeded() -> bool:
            for process in fleet:
                assert process.proc.poll() is None, f"{process.log_path.name} died"
            totals = (await http.get("/stats")).json()["totals"]
            assert totals["dead"] == 0 and totals["failed"] == 0, totals
            return bool(totals["succeeded"] == FLEET_JOBS)

        await wait_for(all_succeeded, timeout=180, interval=0.5, what="all 20,000 jobs")
        totals = (await http.get("/stats")).json()["totals"]
    elapsed = time.monotonic() - began
    assert totals == {state.value: 0 for state in JobState} | {"succeeded": FLEET_JOBS}

    records = read_ledger(ledger)
    starts = [r for r in records if r["kind"] == "start"]
    ends = [r for r in records if r["kind"] == "end"]
    assert Counter(r["job_id"] for r in starts) == dict.fromkeys(submitted, 1), "started twice?"
    assert Counter(r["job_id"] for r in ends) == dict.fromkeys(submitted, 1), "ended twice?"
    assert {r["attempt"] for r in records} == {1}
    ran_by = {r["job_id"]: r["pid"] for r in starts}
    assert {r["job_id"]: r["pid"] for r in ends} == ran_by, "ended where it started"
    assert set(ran_by.values()) <= {p.pid for p in fleet}

    # The store agrees with the ledger: one attempt, by the process that wrote the ledger line.
    async with JobQueue(pg_url, accept_unknown_types=True) as reader:
        stored = await all_jobs(reader.store)
    assert len(stored) == FLEET_JOBS
    for found in stored:
        assert found.status is JobState.SUCCEEDED and found.attempt == 1, found
        assert pid_of(found.worker_id) == ran_by[found.id]
        assert found.result == {"pid": ran_by[found.id]}

    shares = Counter(ran_by.values())
    for worker in workers:
        assert shares[worker.pid] > 0, f"worker pid {worker.pid} ran nothing: {shares}"
    print(  # visible with -s: how the work was spread, and how long it took
        f"\n{FLEET_JOBS} jobs in {elapsed:.1f} s; shares by pid: "
        + ", ".join(f"{p.log_path.stem}={shares[p.pid]}" for p in fleet)
    )

    # Nothing went wrong on the way: no process logged a warning or an error.
    noisy = [p for p in fleet if complaints(p, level=("warning", "error", "critical"))]
    assert not noisy, summary(fleet)
    await stop_cleanly(fleet)


# -- 2. a worker killed mid-run --------------------------------------------------------------

KILL_JOBS = 300


@pytest.mark.timeout(120)
async def test_a_worker_killed_mid_run_loses_nothing_and_runs_nothing_twice(
    producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    """4 worker processes with 2-second leases; one is SIGKILLed while running jobs. Its
    started-but-unfinished jobs run again elsewhere on a later attempt; nothing is lost.

    "Ends once" is checked against the store, not on the raw ledger: a handler that wrote its
    ``end`` line in the victim just before the kill, whose success the victim never recorded,
    is rightly run again (at-least-once; the store says that attempt was ``lost``). So: every
    job has exactly one ``end`` for the attempt the store recorded as succeeded, by the process
    the store names; any other ``end`` is the victim's, on an attempt the store says was lost;
    and no survivor ends a job twice or loses a lease.
    """
    args = "worker --workers 5 --queue-capacity 5 --lease-seconds 2 --poll-interval 0.1"
    fleet = [launch(f"worker{i}", args) for i in range(1, 5)]
    victim, survivors = fleet[0], fleet[1:]
    await listening(*fleet)

    results = await producer.enqueue_many(
        [producer.new_job("ledger.sleep", {"seconds": 0.3}) for _ in range(KILL_JOBS)]
    )
    submitted = {result.job.id for result in results}

    def victim_in_flight() -> set[tuple[str, int]]:
        mine = [r for r in read_ledger(ledger) if r["pid"] == victim.pid]
        started = {(r["job_id"], r["attempt"]) for r in mine if r["kind"] == "start"}
        ended = {(r["job_id"], r["attempt"]) for r in mine if r["kind"] == "end"}
        if len(ended) < 10:  # let it finish some first: a worker mid-run, not at its start
            return set()
        return started - ended

    await wait_for(
        lambda: bool(victim_in_flight()), timeout=30, what="the victim to be running jobs"
    )
    os.kill(victim.pid, signal.SIGKILL)
    assert await victim.wait_exit(10) == -signal.SIGKILL

    async def finished() -> bool:
        for process in survivors:
            assert process.proc.poll() is None, f"{process.log_path.name} died"
        return await statuses(producer) == {JobState.SUCCEEDED: KILL_JOBS}

    await wait_for(finished, timeout=60, interval=0.2, what="every job to succeed")

    records = read_ledger(ledger)
    assert {r["job_id"] for r in records} == submitted, "nothing lost, nothing foreign"
    mine = [r for r in records if r["pid"] == victim.pid]
    cut_short = {(r["job_id"], r["attempt"]) for r in mine if r["kind"] == "start"} - {
        (r["job_id"], r["attempt"]) for r in mine if r["kind"] == "end"
    }
    assert cut_short, "the victim was killed with jobs in flight"
    ends = [r for r in records if r["kind"] == "end"]
    survivor_pids = {p.pid for p in survivors}
    survivor_ends = Counter(r["job_id"] for r in ends if r["pid"] in survivor_pids)
    assert max(survivor_ends.values()) == 1, "a survivor ended a job twice"

    unacknowledged = set()  # the victim's attempts that ran to their end but were never recorded
    for job_id in submitted:
        done = await producer.get(job_id)
        history = await producer.attempts(job_id)
        assert done.status is JobState.SUCCEEDED, done
        *earlier, last = history
        assert last.outcome is Outcome.SUCCEEDED and last.attempt == done.attempt, history
        for lost in earlier:  # only the victim's claims may have been lost
            assert lost.outcome is Outcome.LOST and pid_of(lost.worker_id) == victim.pid, history
            assert lost.attempt < last.attempt
        job_ends = [r for r in ends if r["job_id"] == job_id]
        [acknowledged] = [r for r in job_ends if r["attempt"] == done.attempt]
        assert acknowledged["pid"] == pid_of(done.worker_id) == pid_of(last.worker_id)
        assert done.result == {"pid": acknowledged["pid"]}
        lost_attempts = {a.attempt for a in earlier}
        for extra in job_ends:
            if extra is not acknowledged:
                assert extra["pid"] == victim.pid and extra["attempt"] in lost_attempts, job_ends
                unacknowledged.add(job_id)
    for job_id, attempt in cut_short:  # run again, by a survivor, on a later attempt
        [end] = [r for r in ends if r["job_id"] == job_id]
        assert end["pid"] in survivor_pids and end["attempt"] > attempt, (job_id, attempt, end)
        again = [
            r
            for r in records
            if r["job_id"] == job_id and r["kind"] == "start" and r["pid"] != victim.pid
        ]
        assert again and all(r["attempt"] > attempt for r in again), again

    # The survivors' reapers brought the victim's jobs back: they logged each expired lease.
    expired = {e["job_id"] for p in survivors for e in p.find("lease_expired")}
    assert {job_id for job_id, _ in cut_short} | unacknowledged <= expired
    for process in survivors:
        assert not complaints(process, level=("error", "critical")), summary(survivors)
        assert not broken([process])
        assert not process.find("lease_lost"), "a survivor's own lease ran out"
    print(
        f"\nkilled pid {victim.pid}: {len(cut_short)} jobs cut short, {len(unacknowledged)} "
        f"finished but not recorded; {len(expired)} leases expired"
    )
    await stop_cleanly(survivors)


# -- 3. PostgreSQL restarted mid-run ---------------------------------------------------------

RESTART_BATCHES = 80
RESTART_BATCH = 10
RESTART_DEADLINE = 90.0  # the whole test, seconds


@pytest.mark.timeout(150)
async def test_a_postgres_restart_mid_run_loses_nothing(
    local_cluster: str, producer: JobQueue, launch: Launch, ledger: Path
) -> None:
    """2 workers and a serve process (its pool on too: an API and a pool in one process, both
    through the outage) run a stream of jobs; the server restarts while jobs run and enqueues
    arrive. Every accepted job ends succeeded, the processes reconnect instead of dying, and
    the API answers 503 while the store is away, never 500.

    Enqueues carry idempotency keys and are retried with the same keys after a 503 or a lost
    answer, so "accepted" is exact: the store holds one job per key, no more. A job may run
    twice here (an outcome that could not be written before its lease ran out is at-least-once
    by design); that is reported in the output, not failed on. The PostgreSQL server is
    shared: this test restarts it, so other tests running against it at the same moment see
    their connections drop."""
    try:
        await restart_mid_run(local_cluster, producer, launch, ledger)
    finally:  # at once, not only at teardown: the fixtures' own teardowns need the server
        await asyncio.to_thread(make_sure_postgres_answers, local_cluster)


async def restart_mid_run(version: str, producer: JobQueue, launch: Launch, ledger: Path) -> None:
    test_deadline = time.monotonic() + RESTART_DEADLINE
    common = "--workers 6 --lease-seconds 4 --poll-interval 0.2"
    fleet = [launch(f"worker{i}", f"worker {common}") for i in (1, 2)]
    # The API gives up on the store after 0.5 s (not 5): enqueues during the restart meet the
    # outage (a 503) instead of waiting it out; the server is away for about a second.
    serve = launch("serve", f"serve --port 0 --db-connect-timeout 0.5 {common}")
    fleet.append(serve)
    port = await serve.port()
    await listening(*fleet)

    statuses_seen: Counter[int] = Counter()
    transport_errors: Counter[str] = Counter()
    accepted: dict[str, str] = {}  # idempotency key -> job id
    batches_after_restart = 0
    restarted = asyncio.Event()
    enqueue_windows: list[tuple[float, float]] = []  # (sent, answered) of every enqueue try

    async def send(
        http: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        """One request, its answer counted by status; None (counted) if no answer came."""
        try:
            answer = await http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            transport_errors[type(exc).__name__] += 1
            return None
        statuses_seen[answer.status_code] += 1
        return answer

    async def produce(http: httpx.AsyncClient) -> None:
        nonlocal batches_after_restart
        for number in range(RESTART_BATCHES):
            keys = [f"restart-{number}-{i}" for i in range(RESTART_BATCH)]
            jobs = [
                {"type": "ledger.sleep", "payload": {"seconds": 0.3}, "idempotency_key": key}
                for key in keys
            ]
            # The same keys on every try: a retry after a lost answer creates nothing twice.
            while True:
                assert time.monotonic() < test_deadline, "enqueues did not get through"
                sent = time.monotonic()
                answer = await send(http, "POST", "/jobs/batch", json={"jobs": jobs})
                enqueue_windows.append((sent, time.monotonic()))
                if answer is not None and answer.status_code == 201:
                    break
                if answer is not None:
                    assert answer.status_code == 503, answer.text
                    assert answer.json()["error"]["code"] == "store_unavailable"
                await asyncio.sleep(0.2)
            for key, job in zip(keys, answer.json()["jobs"], strict=True):
                assert job["idempotency_key"] == key
                accepted[key] = job["id"]
            if restarted.is_set():
                batches_after_restart += 1
            await asyncio.sleep(0.1)

    def in_flight() -> set[tuple[str, int]]:
        records = read_ledger(ledger)
        started = {(r["job_id"], r["attempt"]) for r in records if r["kind"] == "start"}
        return started - {(r["job_id"], r["attempt"]) for r in records if r["kind"] == "end"}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        producing = asyncio.create_task(produce(http))
        try:
            await wait_for(
                lambda: len(accepted) >= 20 * RESTART_BATCH and bool(in_flight()),
                timeout=30,
                what="a stream of jobs running",
            )
            assert not producing.done(), "the restart must come while enqueues go on"
            running_before = in_flight()
            restart_began = time.monotonic()
            restart = await asyncio.to_thread(pg_ctlcluster, version, "restart", 60)
            restart_took = time.monotonic() - restart_began
            assert restart.returncode == 0, restart.stdout + restart.stderr
            restarted.set()
            await asyncio.wait_for(asyncio.shield(producing), RESTART_DEADLINE)
        finally:
            producing.cancel()
        await producing
        assert batches_after_restart > 0, "enqueues went on after the restart"
        restart_ended = restart_began + restart_took
        assert any(
            sent < restart_ended and answered > restart_began for sent, answered in enqueue_windows
        ), "an enqueue was on its way while the server restarted"
        assert running_before, "jobs were running when the server went away"
        ids = set(accepted.values())
        assert len(ids) == RESTART_BATCHES * RESTART_BATCH, "one job per idempotency key"

        async def all_done() -> bool:
            for process in fleet:
                assert process.proc.poll() is None, (
                    f"{process.log_path.name} died after the restart:\n"
                    + process.log_text()[-3000:]
                )
            answer = await send(http, "GET", "/stats")
            if answer is None or answer.status_code == 503:
                return False
            assert answer.status_code == 200, answer.text
            totals = answer.json()["totals"]
            assert totals["dead"] == 0, totals
            return bool(totals["succeeded"] == len(ids))

        remaining = max(5.0, test_deadline - time.monotonic())
        await wait_for(all_done, timeout=remaining, interval=0.3, what="every job to succeed")

    assert set(statuses_seen) <= {200, 201, 503}, f"never a 500: {statuses_seen}"
    assert await statuses(producer) == {JobState.SUCCEEDED: len(ids)}, "nothing running"
    stored: dict[str, Job] = {job.id: job for job in await all_jobs(producer)}
    assert set(stored) == ids, "no job the API did not answer for, none missing"

    records = read_ledger(ledger)
    ends = Counter(r["job_id"] for r in records if r["kind"] == "end")
    assert set(ends) == ids, "every accepted job ran to its end"
    for job_id in ids:
        started = [r["attempt"] for r in records if r["job_id"] == job_id and r["kind"] == "start"]
        assert stored[job_id].attempt == max(started), (job_id, started)
    for process in fleet:
        assert not broken([process]), summary(fleet)
        assert len(process.find("listen_started")) >= 2, "it listens again after the restart"
    print(
        f"\nrestart took {restart_took:.1f} s; answers: {dict(statuses_seen)}, "
        f"transport errors: {dict(transport_errors)}, "
        f"jobs run twice: {sum(n > 1 for n in ends.values())}\n{summary(fleet)}"
    )
    await stop_cleanly(fleet)


# -- 4. a fleet of default processes within the server's connection limit ----------------

FLEET_PROCESSES = 50
API_POOL = 4  # ``jobq serve --workers 0``: its pool (auto: 4), and no LISTEN connection
BURST = 1_000


@pytest.mark.timeout(300)
async def test_fifty_default_worker_processes_and_an_api_share_a_hundred_connections(
    producer: JobQueue, launch: Launch, pg_url: str, ledger: Path
) -> None:
    """The issue's story, at 50: ``jobq worker`` processes with the default settings (10 workers
    each) and ``jobq serve --workers 0``, on a server that allows 100 connections. Before, 40
    such processes held 97 of them at start-up: seven exited ("too many clients already"),
    twelve could not LISTEN, and a client elsewhere could not connect. Now a worker process
    holds one connection at every moment (start-up, a burst of jobs, idle) and the API at most
    its pool; a client elsewhere connects every time it tries, and every job runs once."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        [(allowed, reserved)] = conn.execute(
            "SELECT current_setting('max_connections')::int, "
            "current_setting('superuser_reserved_connections')::int"
        ).fetchall()
    needed = FLEET_PROCESSES + API_POOL + 4 + 1  # and the producer's pool, the outside client
    assert allowed - reserved > needed, f"the test needs a server allowing {needed} connections"

    port = server_port(pg_url)
    held: Counter[int] = Counter()  # pid -> the most connections seen at one moment
    refused: list[str] = []
    probes = 0
    sampling = True

    async def watch(pids: list[int]) -> None:
        """Connections per process every 50 ms; a new outside connection every 200 ms."""
        nonlocal probes
        tick = 0
        while sampling:
            for pid, ports in ports_by_pid(pids, port).items():
                held[pid] = max(held[pid], len(ports))
            if tick % 4 == 0:
                probes += 1
                try:
                    outside = await psycopg.AsyncConnection.connect(pg_url, connect_timeout=5)
                    await outside.execute("SELECT 1")
                    await outside.close()
                except psycopg.Error as exc:
                    refused.append(str(exc).strip())
            tick += 1
            await asyncio.sleep(0.05)

    api = launch("api", "serve --port 0 --workers 0")
    fleet = [launch(f"worker{i}", "worker") for i in range(1, FLEET_PROCESSES + 1)]
    watcher = asyncio.create_task(watch([api.pid] + [process.pid for process in fleet]))
    try:
        await listening(*fleet)
        api_port = await api.port()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as http:
            body = {"jobs": [{"type": "ledger.sleep", "payload": {"seconds": 0.01}}] * 500}
            answer = await http.post("/jobs/batch", json=body)
            assert answer.status_code == 201, answer.text
        await producer.enqueue_many(
            [producer.new_job("ledger.sleep", {"seconds": 0.01}) for _ in range(BURST - 500)]
        )

        async def drained() -> bool:
            for process in [api, *fleet]:
                assert process.proc.poll() is None, f"{process.log_path.name} exited"
            return await statuses(producer) == {JobState.SUCCEEDED: BURST}

        await wait_for(drained, timeout=120, interval=0.2, what="the burst to be drained")
        await asyncio.sleep(1)  # and idle for a moment, still sampled
    finally:
        sampling = False
        await watcher

    assert refused == [], f"{len(refused)} of {probes} outside connections refused: {refused[:3]}"
    assert probes > 0
    per_worker = Counter(held[process.pid] for process in fleet)
    assert per_worker == {1: FLEET_PROCESSES}, per_worker  # one each, never more
    assert 1 <= held[api.pid] <= API_POOL, held[api.pid]
    starts = Counter(r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start")
    assert len(starts) == BURST and set(starts.values()) == {1}
    assert broken([api, *fleet]) == {}
    for process in fleet:
        assert not complaints(process, level=("warning", "error")), summary(fleet)
    print(f"\n{FLEET_PROCESSES} worker processes: one connection each; the API {held[api.pid]}")
    await stop_cleanly([api, *fleet])
