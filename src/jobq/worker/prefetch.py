"""How many jobs a pool claims beyond its free workers.

A claimed job waits in the pool's buffer, where no other process of the fleet can run it. A
prefetch pays only while the pool's jobs finish faster than a claim comes back: then a worker
that finishes finds its next job at hand instead of waiting for the store. For jobs that run
longer than a claim takes (most real jobs: milliseconds to minutes, against a claim of about a
millisecond), a prefetched job only waits here while a worker elsewhere sits idle.

The ``prefetch`` setting is a number of jobs (0: none), or ``auto`` (the default): what the
workers finish during two claims, measured as the pool runs (moving averages of how long its
jobs run and how long its claims take), none until both have been measured, and never beyond
the buffer's capacity::

    auto = min(capacity, floor(2 * claim time * workers / job time))

No-op jobs thus earn the whole buffer (a drain claims in batches, as fast as the store
allows); jobs of a second earn nothing (a fleet shares them as its workers free up).
"""

from __future__ import annotations

from typing import Literal

#: the setting's value that asks for the measured prefetch
AUTO: Literal["auto"] = "auto"
#: weight of the newest measure in each moving average
SMOOTHING = 0.2
#: claims whose worth of jobs the measured prefetch covers
CLAIMS_AHEAD = 2.0
#: a job time below this is counted as this (a no-op job)
FLOOR = 1e-6


class Prefetch:
    def __init__(self, setting: int | Literal["auto"], *, workers: int, capacity: int) -> None:
        self._fixed = None if setting == AUTO else int(setting)
        self._workers = workers
        self._capacity = capacity
        self._job_time: float | None = None
        self._claim_time: float | None = None

    def job_ran(self, seconds: float) -> None:
        self._job_time = _average(self._job_time, max(seconds, FLOOR))

    def claim_took(self, seconds: float) -> None:
        self._claim_time = _average(self._claim_time, max(seconds, 0.0))

    @property
    def now(self) -> int:
        """Jobs to claim beyond the free workers now."""
        if self._fixed is not None:
            return self._fixed
        if self._job_time is None or self._claim_time is None:
            return 0
        finished_per_second = self._workers / self._job_time
        return min(self._capacity, int(CLAIMS_AHEAD * self._claim_time * finished_per_second))


def _average(average: float | None, value: float) -> float:
    return value if average is None else average + SMOOTHING * (value - average)
