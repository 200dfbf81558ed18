"""Pausing a queue with real processes, on both stores: a pause made by `jobq queues pause`
stops a `jobq serve` and a `jobq worker` from claiming the queue's jobs while other queues run
and new jobs are still accepted; `/queues` and `/stats` show it; it outlives a restart of the
worker; `POST /queues/{name}/resume` starts the jobs at once. Bad input exits 2 (CLI) or gets
422 (API), and changes nothing."""

from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.cli import Cli
from tests.helpers import JobqProcess, wait_for

#: the pools poll this seldom: only a wake-up (an enqueue's, a resume's) makes them claim in time
POLL = "120"


def _serve(store_url: str, tmp_path: Path) -> JobqProcess:
    return JobqProcess(
        ["serve", "--port", "0", "--workers", "2"],
        env={"JOBQ_DATABASE_URL": store_url, "JOBQ_POLL_INTERVAL": POLL},
        log_path=tmp_path / "serve.log",
    )


def _worker(store_url: str, tmp_path: Path, name: str) -> JobqProcess:
    return JobqProcess(
        ["worker", "--workers", "2"],
        env={"JOBQ_DATABASE_URL": store_url, "JOBQ_POLL_INTERVAL": POLL},
        log_path=tmp_path / f"{name}.log",
    )


async def _ran(job_id: str, *where: JobqProcess) -> None:
    """Wait until one of ``where`` logs that ``job_id`` succeeded."""
    await wait_for(
        lambda: any(p.find("job_succeeded", job_id=job_id) for p in where),
        timeout=30,
        what=f"job {job_id} to succeed",
    )


async def _statuses(store_url: str, ids: list[str]) -> set[JobState]:
    async with JobQueue(store_url) as jq:
        return {(await jq.get(job_id)).status for job_id in ids}


async def test_a_paused_queue_waits_across_the_fleet_until_resumed(
    store_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    cli = Cli(store_url)
    cli.ok("migrate")
    assert cli.ok("queues", "pause", "held").stdout.strip() == "paused queue 'held' until resumed"
    serve = _serve(store_url, tmp_path)
    worker = _worker(store_url, tmp_path, "worker")
    processes += [serve, worker]
    base = f"http://127.0.0.1:{await serve.port()}"
    async with httpx.AsyncClient(base_url=base) as http:
        held = [
            (await http.post("/jobs", json={"type": "echo", "queue": "held"})).json()["id"]
            for _ in range(6)
        ]
        # enqueued after the held jobs: each pool has had its chance at them by the time the
        # free jobs have run
        free = [(await http.post("/jobs", json={"type": "echo"})).json()["id"] for _ in range(6)]
        for job_id in free:
            await _ran(job_id, serve, worker)
        assert await _statuses(store_url, held) == {JobState.PENDING}

        queues = {q["name"]: q for q in (await http.get("/queues")).json()["queues"]}
        assert queues["held"]["paused"] is True and queues["held"]["paused_until"] is None
        assert queues["held"]["counts"]["pending"] == 6
        assert queues["default"]["paused"] is False
        assert [p["queue"] for p in (await http.get("/stats")).json()["paused"]] == ["held"]
        listed = {q["name"]: q for q in cli.json("queues", "list")}
        assert listed["held"]["paused"] is True and listed["held"]["counts"]["pending"] == 6
        assert "held (paused)" in cli.ok("stats").stdout
        assert "held (paused)" in cli.ok("top", "--once").stdout
        assert "paused" in cli.ok("queues", "list").stdout

        # the pause is stored: a worker started again still passes the queue over
        worker.signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=30) == 0
        again = _worker(store_url, tmp_path, "again")
        processes.append(again)
        await again.wait_event("pool_started", timeout=30)
        late = (await http.post("/jobs", json={"type": "echo"})).json()["id"]
        await _ran(late, serve, again)
        assert await _statuses(store_url, held) == {JobState.PENDING}

        # resumed by a third process: the pools hear of it (PostgreSQL: they read the pauses
        # again on the resume's NOTIFY, however recently they read them)
        assert cli.ok("queues", "resume", "held").stdout.strip() == "resumed queue 'held'"
        for job_id in held:
            await _ran(job_id, serve, again)
        assert (await http.get("/stats")).json()["paused"] == []


async def test_bad_input_changes_nothing(
    store_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    cli = Cli(store_url)
    cli.ok("migrate")
    for args, said in (
        (("queues", "pause", "no spaces"), "queue 'no spaces' is not allowed"),
        (("queues", "pause", "q", "--until", "tomorrow"), "neither a time"),
        (("queues", "pause", "q", "--until", "2026-01-01T00:00:00"), "needs its time zone"),
        (("queues", "pause", "q", "--until", "2000-01-01T00:00:00+00:00"), "passed already"),
        (("queues", "resume", "a/b"), "not allowed"),
        (("queues", "pause", "q", "--until", "9999-12-31T23:30:00-05:00"), "within 10 years"),
        (("queues", "pause", "q", "--until", "100000000d"), "Invalid value for '--until'"),
    ):
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert said in result.stderr, (args, result.stderr)
    assert cli.json("queues", "list") == []

    serve = _serve(store_url, tmp_path)
    processes.append(serve)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{await serve.port()}") as http:
        past = await http.post("/queues/q/pause", json={"until": "2000-01-01T00:00:00Z"})
        assert past.status_code == 422, past.text
        assert "until" in past.text and "passed already" in past.text
        naive = await http.post("/queues/q/pause", json={"until": "2030-01-01T00:00:00"})
        assert naive.status_code == 422, naive.text
        number = await http.post("/queues/q/pause", json={"until": 6516197468502})
        assert number.status_code == 422, number.text  # not read as seconds since 1970
        extra = await http.post("/queues/q/pause", json={"for": 3})
        assert extra.status_code == 422, extra.text
        bad_name = await http.post("/queues/a%20b/pause")
        assert bad_name.status_code == 422, bad_name.text
        assert (await http.get("/queues")).json() == {"queues": []}
        # a pause until a time ends by itself; pausing again moves its end
        until = (datetime.now(UTC) + timedelta(days=30)).isoformat()
        first = await http.post("/queues/q/pause", json={"until": until})
        assert first.status_code == 200, first.text
        assert datetime.fromisoformat(first.json()["paused_until"]) == datetime.fromisoformat(until)
        again = await http.post("/queues/q/pause")
        assert again.json()["paused_until"] is None
        assert again.json()["paused_at"] == first.json()["paused_at"]
        resumed = await http.post("/queues/q/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["resumed"] is True and resumed.json()["paused"] is False
        far = await http.post("/queues/q/pause", json={"until": "9999-12-31T23:30:00-05:00"})
        assert far.status_code == 422 and "within 10 years" in far.text, far.text
        digits = await http.post("/queues/q/pause", json={"until": "1700000000"})
        assert digits.status_code == 422, digits.text
        not_paused = await http.post("/queues/other/resume")
        assert not_paused.status_code == 200 and not_paused.json()["resumed"] is False
