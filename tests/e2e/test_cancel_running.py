"""Cancelling a running job with real processes, on both stores: a `jobq worker` runs an
`async def` and a `def` handler; `POST /jobs/{id}/cancel` on a second process (the API) stops
both runs through the store's wake-up (the heartbeat is set minutes apart, so only the wake-up
can stop them in time): the async handler is cancelled, the thread sees `ctx.cancelled`; each
job ends `cancelled` with one attempt recorded `cancelled`, and no retry follows."""

from __future__ import annotations

from pathlib import Path

import httpx

from jobq import JobQueue
from jobq.domain.states import JobState
from tests.apps.ledger import read_ledger
from tests.fleet import APP
from tests.helpers import JobqProcess, wait_for


async def test_a_cancel_stops_running_jobs_in_another_process(
    store_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    ledger = tmp_path / "ledger"
    env = {
        "JOBQ_DATABASE_URL": store_url,
        "JOBQ_TEST_LEDGER": str(ledger),
        "JOBQ_LEASE_SECONDS": "600",  # a heartbeat every 200 s: it cannot be what stops them
    }
    api = JobqProcess(
        ["serve", "--port", "0", "--workers", "0", "--app", APP],
        env=env,
        log_path=tmp_path / "serve.log",
    )
    worker = JobqProcess(
        ["worker", "--workers", "3", "--app", APP], env=env, log_path=tmp_path / "worker.log"
    )
    processes += [api, worker]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{await api.port()}") as http:
        ids = {}
        for job_type in ("ledger.linger", "ledger.linger_def"):
            answer = await http.post("/jobs", json={"type": job_type, "payload": {"seconds": 120}})
            assert answer.status_code == 201, answer.text
            ids[job_type] = answer.json()["id"]

        def started() -> bool:
            return {r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start"} == set(
                ids.values()
            )

        await wait_for(started, timeout=30, what="both runs to start")
        for job_id in ids.values():
            cancelled = await http.post(f"/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == "cancelled"

        for job_id in ids.values():
            await worker.wait_event("run_cancelled", job_id=job_id, timeout=30)

        def stopped() -> dict[str, dict[str, object]]:
            return {r["job_id"]: r for r in read_ledger(ledger) if r["kind"] == "stopped"}

        # the thread of the def handler writes its record after the worker stopped waiting
        await wait_for(lambda: set(stopped()) == set(ids.values()), timeout=30, what="stops")
        assert all(record["cancelled"] is True for record in stopped().values())

        # the worker goes on: a later job runs, and the cancelled ones stay as they are
        later = (await http.post("/jobs", json={"type": "echo"})).json()["id"]
        await worker.wait_event("job_succeeded", job_id=later, timeout=30)
        for job_id in ids.values():
            job = (await http.get(f"/jobs/{job_id}")).json()
            assert job["status"] == "cancelled", job
            assert [a["outcome"] for a in job["attempts"]] == ["cancelled"], job
        assert not worker.find("job_retry_scheduled") and not worker.find("lease_lost")
        # a cancel of a job that ended is refused, and changes nothing
        again = await http.post(f"/jobs/{ids['ledger.linger']}/cancel")
        assert again.status_code == 409, again.text


async def test_a_claimed_job_cancelled_before_it_starts_is_skipped_as_cancelled(
    store_url: str, tmp_path: Path, processes: list[JobqProcess]
) -> None:
    """One worker, one job of prefetch: the second job waits in the pool's buffer, claimed;
    cancelled there, it is never started, and the pool says why."""
    ledger = tmp_path / "ledger"
    env = {"JOBQ_DATABASE_URL": store_url, "JOBQ_TEST_LEDGER": str(ledger)}
    worker = JobqProcess(
        ["worker", "--workers", "1", "--prefetch", "1", "--app", APP],
        env=env,
        log_path=tmp_path / "worker.log",
    )
    processes.append(worker)
    await worker.wait_event("pool_started", timeout=30)
    async with JobQueue(store_url, accept_unknown_types=True) as jq:
        first = await jq.enqueue("ledger.linger", {"seconds": 120})
        await wait_for(lambda: any(r["kind"] == "start" for r in read_ledger(ledger)), timeout=30)
        waiting = await jq.enqueue("ledger.linger", {"seconds": 120})
        await wait_for(
            lambda: _status(jq, waiting.id, JobState.RUNNING), timeout=30, what="the buffer's claim"
        )
        await jq.cancel(waiting.id)
        await worker.wait_event("cancel_received", job_id=waiting.id, timeout=30)
        await jq.cancel(first.id)  # the worker is free: the buffered job comes up, and is skipped
        await worker.wait_event("job_skipped", job_id=waiting.id, reason="cancelled", timeout=30)
        assert [r["job_id"] for r in read_ledger(ledger) if r["kind"] == "start"] == [first.id]
        assert not worker.find("lease_lost")


async def _status(jq: JobQueue, job_id: str, state: JobState) -> bool:
    return (await jq.get(job_id)).status is state
