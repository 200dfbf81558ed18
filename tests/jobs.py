"""What a store holds, read the same way by every test: jobs by state, how many, every job."""

from __future__ import annotations

from collections import Counter

from jobq.domain.job import Job
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store import JobFilter, Store


def _store(source: JobQueue | Store) -> Store:
    return source.store if isinstance(source, JobQueue) else source


async def statuses(source: JobQueue | Store) -> dict[JobState, int]:
    """How many jobs are in each state, over every queue; states no job is in are left out."""
    counts: Counter[JobState] = Counter()
    for row in await _store(source).reads.counts():
        counts[row.status] += row.count
    return {state: count for state, count in counts.items() if count}


async def stored(source: JobQueue | Store) -> int:
    """How many jobs the store holds, in any state."""
    return sum(row.count for row in await _store(source).reads.counts())


async def all_jobs(source: JobQueue | Store, *, pages: int = 1000) -> list[Job]:
    """Every job in the store, newest first, read page by page (at most ``pages`` pages of
    1,000: a runaway test fails instead of reading forever)."""
    reads = _store(source).reads
    found: list[Job] = []
    after = None
    for _ in range(pages):
        page = await reads.list_jobs(JobFilter(), limit=1000, after=after)
        found.extend(page.jobs)
        if page.next_after is None:
            return found
        after = page.next_after
    raise AssertionError(f"more than {pages * 1000} jobs in the store")
