"""Successes acknowledged in batches: a worker hands its job's success over and takes its next
job at once; one writer records every success handed over meanwhile in one transaction
(``Outcomes.complete_many``), fenced by each job's lease as a single ``complete`` would be.

No timer: a batch is whatever arrived while the last one was being written, so an idle queue
acknowledges each success at once and a busy one in batches as large as the store is slow.
Until its success is written a job stays held (its lease is still extended); if the process
dies first, the job runs again when its lease expires, as if it had died a moment earlier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from structlog.typing import FilteringBoundLogger

from jobq.store.ports import Outcomes
from jobq.store.records import Completion
from jobq.worker.outcomes import Ack, with_retries

#: successes written in one transaction at most
MAX_BATCH = 500


@dataclass(slots=True)
class _Pending:
    completion: Completion
    done: Callable[[Ack], None]


class Acknowledger:
    def __init__(self, outcomes: Outcomes, log: FilteringBoundLogger) -> None:
        self._outcomes = outcomes
        self._log = log
        self._queued: list[_Pending] = []
        self._writing = 0  # successes in the batch being written
        self._arrived = asyncio.Event()
        self._closing = False

    @property
    def pending(self) -> int:
        """Successes handed over and not yet written."""
        return len(self._queued) + self._writing

    def submit(self, completion: Completion, done: Callable[[Ack], None]) -> None:
        """Write ``completion`` with the next batch; then call ``done`` with what came of it."""
        self._queued.append(_Pending(completion, done))
        self._arrived.set()

    async def run(self) -> None:
        """Write batches until ``close`` and nothing is left (a task of the pool's)."""
        while True:
            if not self._queued:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            batch = self._queued[:MAX_BATCH]
            del self._queued[:MAX_BATCH]
            completions = [pending.completion for pending in batch]
            self._writing = len(batch)
            try:
                written = await with_retries(
                    lambda: self._outcomes.complete_many(completions),  # noqa: B023 - awaited here
                    self._log,
                )
            finally:
                self._writing = 0
            for pending in batch:
                if written is None:
                    pending.done(Ack.NOT_WRITTEN)
                elif pending.completion.lease.job_id in written:
                    pending.done(Ack.WRITTEN)
                else:
                    pending.done(Ack.LEASE_LOST)

    def close(self) -> None:
        """Write what is queued, then let ``run`` end."""
        self._closing = True
        self._arrived.set()
