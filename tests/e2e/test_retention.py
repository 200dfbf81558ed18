"""Retention with real processes: a ``jobq serve`` deletes finished jobs once their time is up,
by itself, logging it and counting it in /metrics, on both stores; ``jobq prune`` does it by
hand, or only counts; a bad value exits 2 and deletes nothing."""

from __future__ import annotations

import httpx
import pytest

from jobq import JobQueue
from jobq.store import JobFilter
from tests.cli import Cli
from tests.helpers import JobqProcess


async def test_a_serve_process_prunes_finished_jobs_by_itself(
    store_url: str, tmp_path: object, processes: list[JobqProcess]
) -> None:
    serve = JobqProcess(
        ["serve", "--port", "0", "--workers", "2"],
        env={
            "JOBQ_DATABASE_URL": store_url,
            "JOBQ_RETAIN_SUCCEEDED": "0",
            "JOBQ_RETAIN_DEAD": "forever",
            "JOBQ_PRUNE_INTERVAL": "0.2",
        },
        log_path=tmp_path / "serve.log",  # type: ignore[operator]
    )
    processes.append(serve)
    base = f"http://127.0.0.1:{await serve.port()}"
    async with httpx.AsyncClient(base_url=base) as http:
        ok = (await http.post("/jobs", json={"type": "echo", "payload": {"n": 1}})).json()
        refused = {"url": "http://127.0.0.1:9/", "method": "GET"}  # discard: nobody listens
        dead = await http.post(
            "/jobs", json={"type": "http.request", "payload": refused, "max_attempts": 1}
        )
        assert dead.status_code == 201, dead.text
        await serve.wait_event("job_succeeded", job_id=ok["id"], timeout=30)
        pruned = await serve.wait_event("jobs_pruned", timeout=30)
        assert pruned["succeeded"] >= 1 and pruned["dead"] == 0
        assert (await http.get(f"/jobs/{ok['id']}")).status_code == 404
        await serve.wait_event("job_dead", timeout=30)
        metrics = (await http.get("/metrics")).text
        assert 'jobq_pruned_total{queue="default",status="succeeded",type="echo"} 1.0' in metrics
        # dead jobs are kept forever here
        assert (await http.get(f"/jobs/{dead.json()['id']}")).json()["status"] == "dead"


@pytest.fixture
async def finished(db_url: str) -> list[str]:
    """Two succeeded jobs and a cancelled one, on a SQLite file."""
    jq = JobQueue(db_url)
    async with jq:
        done = [await jq.enqueue("echo", {"n": n}) for n in range(2)]
        await jq.run(until_idle=True)
        cancelled = await jq.enqueue("echo", {"n": 3}, delay=3600)
        await jq.cancel(cancelled.id)
    return [job.id for job in [*done, cancelled]]


async def left(db_url: str) -> int:
    jq = JobQueue(db_url)
    async with jq:
        return len((await jq.list_jobs(JobFilter(), limit=100)).jobs)


async def test_jobq_prune_by_hand(db_url: str, finished: list[str]) -> None:
    cli = Cli(db_url)
    # the default retention keeps jobs that finished a moment ago
    assert cli.json("prune")["total"] == 0
    assert "retention: succeeded 1d, cancelled 7d, dead 30d" in cli.ok("prune").stderr
    for bad in ("--older-than=-1", "--older-than=forever", "--older-than=3 days"):
        refused = cli("prune", bad)
        assert refused.returncode == 2, refused.stderr
        assert "--older-than" in refused.stderr
    refused = cli("prune", env={"JOBQ_RETAIN_SUCCEEDED": "soon"})
    assert refused.returncode == 2 and "JOBQ_RETAIN_SUCCEEDED='soon'" in refused.stderr
    assert await left(db_url) == 3
    dry = cli.json("prune", "--older-than", "0", "--dry-run")
    assert dry == {
        "dry_run": True,
        "total": 3,
        "by_state": {"succeeded": 2, "cancelled": 1, "dead": 0},
        "by_type": [
            {"status": "cancelled", "type": "echo", "count": 1},
            {"status": "succeeded", "type": "echo", "count": 2},
        ],
    }
    assert await left(db_url) == 3
    by_setting = cli.ok("prune", env={"JOBQ_RETAIN_CANCELLED": "0"})
    assert "cancelled  echo  1" in by_setting.stdout
    assert "deleted 1 finished job\n" in by_setting.stdout
    assert "deleted 2 finished jobs" in cli.ok("prune", "--older-than", "0s").stdout
    assert await left(db_url) == 0
