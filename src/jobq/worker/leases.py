"""The claims a pool holds, from the claim until the job's outcome is written.

Invariants:
  - ``jobs()`` is every job this pool has claimed and not yet settled: buffered, running, or
    succeeded with its success waiting to be written. The heartbeat extends exactly these.
  - A job is held under the claim that put it there: ``forget`` of an older claim of the same
    job (a stale attempt, its lease lost and the job claimed again since) leaves the new one.
  - ``is_lost(lease)``: the heartbeat found the lease gone (it expired and the job went back
    to the store). A lost job that has not started is not started; a running one is stopped
    and writes nothing (``runner.py``); whatever is written under a lost lease is refused by the
    store's fence.
  - ``ending(job)``: its outcome is being written, so it may leave ``running`` any moment; a
    heartbeat that misses it then has not lost it.
  - Lost and ending leases are always leases of held jobs; ``forget`` clears all three.
"""

from __future__ import annotations

from jobq.domain.ids import JobId
from jobq.domain.job import Job, Lease


class HeldJobs:
    def __init__(self) -> None:
        self._held: dict[JobId, Job] = {}
        self._lost: dict[Lease, str] = {}  # lease -> why: "lease_lost" or "cancelled"
        self._ending: set[Lease] = set()

    def __len__(self) -> int:
        return len(self._held)

    def jobs(self) -> list[Job]:
        return list(self._held.values())

    def hold(self, job: Job) -> None:
        """``job`` was just claimed by this pool."""
        self._held[job.id] = job

    def forget(self, job: Job) -> None:
        """This claim of ``job`` is over (its outcome written, or handed back)."""
        if self._held.get(job.id) is job:
            del self._held[job.id]
        self._lost.pop(job.lease, None)
        self._ending.discard(job.lease)

    def ending(self, job: Job) -> None:
        """The outcome of ``job``'s attempt is about to be written."""
        self._ending.add(job.lease)

    def lose(self, job: Job, reason: str = "lease_lost") -> bool:
        """The heartbeat found ``job``'s lease gone; True if that is news (then say so once)."""
        if job.lease in self._ending:
            return False  # not lost: its own outcome took it out of `running`
        if self._held.get(job.id) is not job or job.lease in self._lost:
            return False
        self._lost[job.lease] = reason
        return True

    def is_lost(self, lease: Lease) -> bool:
        return lease in self._lost

    def lost_reason(self, lease: Lease) -> str | None:
        """Why ``lease`` is lost ("lease_lost", or "cancelled": an operator cancelled the job),
        or None if it is not."""
        return self._lost.get(lease)
