"""``jq.pruning``: deleting finished jobs whose retention has passed (``domain/retention.py``).

A sweep goes through each finished state and each type that has jobs in it, and deletes that
type's due jobs in batches of ``BATCH``, each a short transaction of its own, until none is
left: the store's lock is held one batch at a time, and claims run between batches. Every
``serve``/``worker`` process sweeps now and then (``worker/pruner.py``); ``jobq prune`` sweeps
by hand. Several processes sweeping at once delete each job once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from jobq.domain.retention import FINISHED_STATES, Keep, RetentionPolicy
from jobq.domain.states import JobState
from jobq.registry import Registry
from jobq.store.ports import Retention

#: jobs deleted in one transaction at most
BATCH = 500
#: seconds a paced sweep waits between two batches, at most
MAX_PAUSE = 1.0

#: called after each batch with (queue, type, state, jobs deleted)
OnPruned = Callable[[str, str, JobState, int], None]


@dataclass(slots=True)
class PruneReport:
    """What a sweep deleted (or, in a dry run, would delete), by finished state and type."""

    counts: dict[tuple[JobState, str], int] = field(default_factory=dict)
    dry_run: bool = False

    def add(self, state: JobState, job_type: str, count: int) -> None:
        if count:
            key = (state, job_type)
            self.counts[key] = self.counts.get(key, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_state(self) -> dict[str, int]:
        totals = dict.fromkeys((state.value for state in FINISHED_STATES), 0)
        for (state, _), count in self.counts.items():
            totals[state.value] += count
        return totals


class Pruning:
    """Sweeps of one store, under the JobQueue's retention and the types' own."""

    def __init__(
        self, retention: Callable[[], Retention], registry: Registry, times: dict[JobState, Keep]
    ) -> None:
        self._retention = retention
        self._registry = registry
        #: the retention of this process (its settings), before any type's own
        self.times = times

    def declared_here(self) -> dict[str, dict[JobState, Keep]]:
        """The retention the types of this process's registry declare."""
        return {t.name: dict(t.retain.times) for t in self._registry if t.retain is not None}

    async def publish(self) -> None:
        """Record the types' own retention in the store, for every process to prune by: the
        types of this registry that declare one, and no more for those that do not."""
        await self._retention().publish(self._registry.names(), self.declared_here())

    async def policy(self) -> RetentionPolicy:
        """The retention in force: this process's times, and each type's own as published
        (this registry's, for types not published yet)."""
        by_type = self.declared_here() | await self._retention().declared()
        return RetentionPolicy(self.times, by_type)

    async def prune(
        self,
        policy: RetentionPolicy | None = None,
        *,
        dry_run: bool = False,
        batch: int = BATCH,
        on_pruned: OnPruned | None = None,
        paced: bool = False,
    ) -> PruneReport:
        """Delete every finished job whose time under ``policy`` (default: ``policy()``) has
        passed, with its attempts; with ``dry_run``, only count them. ``paced`` (a pool's
        sweep): after each full batch, wait as long as it took, so that the process's claims
        and acknowledgements have the store (one connection, in a ``jobq worker`` on
        PostgreSQL) at least half the time, however much is due."""
        policy = policy or await self.policy()
        store = self._retention()
        report = PruneReport(dry_run=dry_run)
        for state in FINISHED_STATES:
            for job_type in await store.finished_types(state):
                keep = policy.keep(job_type, state)
                if keep is None:
                    continue
                if dry_run:
                    report.add(state, job_type, await store.count_prunable(state, job_type, keep))
                    continue
                while True:
                    began = time.monotonic()
                    by_queue = await store.prune(state, job_type, keep, limit=batch)
                    for queue, count in by_queue.items():
                        report.add(state, job_type, count)
                        if on_pruned is not None:
                            on_pruned(queue, job_type, state, count)
                    if sum(by_queue.values()) < batch:
                        break
                    # the claims waiting for the store go first
                    took = time.monotonic() - began
                    await asyncio.sleep(min(took, MAX_PAUSE) if paced else 0)
        return report
