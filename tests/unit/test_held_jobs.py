"""The claims a pool holds (``worker/leases.py``) keep their invariants."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from jobq.domain.ids import JobId, PoolId
from jobq.domain.job import Job
from jobq.domain.states import JobState
from jobq.worker.leases import HeldJobs

POOL = PoolId("host:1:aaaaaa")
MOMENT = datetime(2030, 1, 1, tzinfo=UTC)


def claimed(job_id: str = "01900000-0000-7000-8000-000000000001", attempt: int = 1) -> Job:
    return Job(
        id=JobId(job_id),
        queue="default",
        type="echo",
        payload={},
        status=JobState.RUNNING,
        priority=0,
        run_at=MOMENT,
        attempt=attempt,
        max_attempts=3,
        timeout=None,
        backoff=None,
        result=None,
        last_error=None,
        dead_reason=None,
        worker_id=POOL,
        lease_expires_at=MOMENT,
        idempotency_key=None,
        created_at=MOMENT,
        started_at=MOMENT,
        finished_at=None,
    )


def test_a_held_job_is_heartbeaten_until_forgotten() -> None:
    held = HeldJobs()
    job = claimed()
    held.hold(job)
    assert held.jobs() == [job] and len(held) == 1
    held.forget(job)
    assert held.jobs() == [] and len(held) == 0


def test_forgetting_a_stale_claim_keeps_the_newer_claim_of_the_same_job() -> None:
    held = HeldJobs()
    stale, fresh = claimed(attempt=1), claimed(attempt=2)
    held.hold(stale)
    held.hold(fresh)  # the job came back and this pool claimed it again
    held.forget(stale)  # the stale attempt ends
    assert held.jobs() == [fresh]


def test_a_lost_lease_is_news_once() -> None:
    held = HeldJobs()
    job = claimed()
    held.hold(job)
    assert held.lose(job) is True
    assert held.lose(job) is False
    assert held.is_lost(job.lease)
    held.forget(job)
    assert not held.is_lost(job.lease)


def test_a_job_whose_outcome_is_being_written_is_not_lost() -> None:
    held = HeldJobs()
    job = claimed()
    held.hold(job)
    held.ending(job)
    assert held.lose(job) is False and not held.is_lost(job.lease)


def test_only_held_claims_can_be_lost() -> None:
    held = HeldJobs()
    job = claimed()
    assert held.lose(job) is False  # never held
    held.hold(job)
    other_claim = dataclasses.replace(job)  # equal, but another claim object
    assert held.lose(other_claim) is False
