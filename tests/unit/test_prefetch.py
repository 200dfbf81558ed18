"""The prefetch in effect: a number set is that number; ``auto`` is none for jobs slower than
a claim and up to the buffer's capacity for jobs that finish faster than a claim comes back."""

from __future__ import annotations

from typing import Literal

from jobq.worker.prefetch import Prefetch


def measured(
    setting: int | Literal["auto"],
    *,
    workers: int = 10,
    capacity: int = 100,
    job: float,
    claim: float,
    times: int = 20,
) -> Prefetch:
    prefetch = Prefetch(setting, workers=workers, capacity=capacity)
    for _ in range(times):
        prefetch.job_ran(job)
        prefetch.claim_took(claim)
    return prefetch


def test_auto_prefetches_nothing_before_jobs_and_claims_are_measured() -> None:
    prefetch = Prefetch("auto", workers=10, capacity=100)
    assert prefetch.now == 0
    prefetch.job_ran(0.0001)
    assert prefetch.now == 0  # no claim measured yet
    prefetch.claim_took(0.001)
    assert prefetch.now == 100


def test_jobs_slower_than_a_claim_earn_no_prefetch() -> None:
    # 10 workers finishing 1 s jobs: 10 jobs/s; a claim of 2 ms covers 0.02 of a job
    assert measured("auto", job=1.0, claim=0.002).now == 0


def test_fast_jobs_earn_what_the_workers_finish_during_two_claims() -> None:
    # 10 workers, 10 ms jobs: 1,000 jobs/s; two claims of 2 ms: 4 jobs
    assert measured("auto", job=0.01, claim=0.002).now == 4
    # no-op jobs: the whole buffer
    assert measured("auto", capacity=40, job=0.00002, claim=0.002).now == 40


def test_a_number_is_the_prefetch_whatever_the_jobs() -> None:
    assert measured(0, job=0.00002, claim=0.002).now == 0
    assert measured(3, job=60.0, claim=0.002).now == 3


def test_auto_follows_the_jobs_as_they_slow_down() -> None:
    prefetch = measured("auto", job=0.00002, claim=0.002)
    assert prefetch.now == 100
    for _ in range(40):  # the jobs now take a second each
        prefetch.job_ran(1.0)
    assert prefetch.now == 0
