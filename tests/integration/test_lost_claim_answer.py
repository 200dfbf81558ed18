"""A claim that committed in the store but whose answer never came back (its connection was
cut just after the commit: the worker cannot tell it from a claim that failed) strands its jobs
under this pool's leases. The pool asks the store what it holds before it claims again, and
runs them at once rather than after the lease (here 60 s) expires."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from jobq.domain.errors import StoreUnavailable
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.worker import PoolConfig
from tests.storewrap import Around, Meddled, meddling


async def test_the_jobs_of_a_claim_whose_answer_was_lost_run_at_once(jq: JobQueue) -> None:
    answers_to_lose = [1]

    async def answer_lost(method: Around, *args: Any, **kwargs: Any) -> Any:
        claimed = await method(*args, **kwargs)  # committed in the store
        if claimed and answers_to_lose[0]:
            answers_to_lose[0] -= 1
            raise StoreUnavailable("injected: the connection was cut after the claim committed")
        return claimed

    jobs = [await jq.enqueue("echo", {"n": n}) for n in range(3)]
    with (
        meddling(jq, Meddled(jq.store, {"claim": answer_lost})),
        capture_logs() as logs,
    ):
        pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.1, lease_seconds=60))
        await pool.start()
        try:
            for job in jobs:
                done = await jq.wait(job.id, timeout=15, interval=0.05)
                assert done.status is JobState.SUCCEEDED, done
                assert done.attempt == 1  # run under the lost claim's own lease
        finally:
            await pool.stop(grace=5)
    assert answers_to_lose == [0]
    recovered = {e["job_id"] for e in logs if e["event"] == "claim_recovered"}
    assert recovered and recovered <= {job.id for job in jobs}
    assert [e for e in logs if e["event"] == "claim_failed"]
