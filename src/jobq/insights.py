"""The read model behind ``/stats``, the dashboard's overview and ``jobq top``: what the queues
hold, which worker pools are alive, how many attempts ended in each recent minute, and how long
the oldest waiting job has waited; read from the store, so it shows every process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from jobq.domain.job import MinuteCount, Outcome, ProcessInfo, counts_by_queue
from jobq.domain.states import JobState
from jobq.store.ports import Reads
from jobq.worker.presence import STALE_AFTER

#: outcomes counted as bad in the charts (an interrupted attempt is handed back, not failed)
BAD = (Outcome.FAILED, Outcome.LOST)


@dataclass(frozen=True, slots=True)
class Overview:
    #: queue -> status -> jobs, every status present
    counts: dict[str, dict[str, int]]
    #: worker pools heard from within ``STALE_AFTER`` seconds
    processes: list[ProcessInfo]
    #: attempts that ended in each of the last ``minutes`` minutes, by outcome
    ended: list[MinuteCount]
    minutes: int
    #: seconds the longest-waiting due job has waited; None: none waits
    oldest_waiting: float | None
    taken_at: datetime

    @property
    def totals(self) -> dict[str, int]:
        """status -> jobs, every queue."""
        return {
            state.value: sum(row[state.value] for row in self.counts.values()) for state in JobState
        }

    def by_minute(self) -> list[tuple[datetime, dict[Outcome, int]]]:
        """One row per minute that saw attempts end, oldest first."""
        rows: dict[datetime, dict[Outcome, int]] = {}
        for count in self.ended:
            rows.setdefault(count.minute, {})[count.outcome] = count.count
        return sorted(rows.items())

    def series(self, span: int | None = None) -> tuple[list[int], list[int]]:
        """Succeeded and failed-or-lost attempts in each of the last ``span`` minutes (default:
        all of them), oldest first, this minute last; minutes with none are zero."""
        span = span or self.minutes
        current = int(self.taken_at.timestamp() // 60)
        succeeded, bad = [0] * span, [0] * span
        for row in self.ended:
            index = span - 1 - (current - int(row.minute.timestamp() // 60))
            if not 0 <= index < span:
                continue
            if row.outcome is Outcome.SUCCEEDED:
                succeeded[index] += row.count
            elif row.outcome in BAD:
                bad[index] += row.count
        return succeeded, bad


async def overview(reads: Reads, *, minutes: int, now: datetime) -> Overview:
    """Everything an overview shows, read at once."""
    counts, processes, ended, oldest = await asyncio.gather(
        reads.counts(),
        reads.processes(max_age=STALE_AFTER),
        reads.throughput(minutes=minutes),
        reads.oldest_waiting_age(),
    )
    return Overview(counts_by_queue(counts), processes, ended, minutes, oldest, now)
