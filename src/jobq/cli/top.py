"""``jobq top``: a live terminal view of the queues, the worker processes and how fast jobs
finish, read from the store (so it works beside any number of processes, API or not)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group
from rich.table import Table
from rich.text import Text

from jobq.domain.job import MinuteCount, Outcome, ProcessInfo, counts_by_queue
from jobq.domain.states import JobState
from jobq.store.base import JobReader
from jobq.worker.presence import STALE_AFTER

MINUTES = 15
BARS = " ▁▂▃▄▅▆▇█"
STATE_STYLES = {
    JobState.PENDING: "yellow",
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "magenta",
    JobState.DEAD: "red",
    JobState.CANCELLED: "dim",
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    counts: dict[str, dict[str, int]]
    processes: list[ProcessInfo]
    minutes: list[MinuteCount]
    oldest_waiting: float | None
    taken_at: datetime


async def snapshot(store: JobReader, now: datetime) -> Snapshot:
    counts, processes, minutes, oldest = await asyncio.gather(
        store.counts(),
        store.processes(max_age=STALE_AFTER),
        store.throughput(minutes=MINUTES),
        store.oldest_waiting_age(),
    )
    return Snapshot(counts_by_queue(counts), processes, minutes, oldest, now)


def render(view: Snapshot) -> Group:
    queues = Table(title="Queues", title_justify="left", expand=True)
    queues.add_column("queue")
    for state in JobState:
        queues.add_column(state.value, justify="right", style=STATE_STYLES[state])
    for name, row in sorted(view.counts.items()):
        queues.add_row(name, *(str(row[state.value]) for state in JobState))
    if not view.counts:
        queues.add_row("(no jobs yet)", *("" for _ in JobState))

    workers = Table(title="Worker processes", title_justify="left", expand=True)
    for column in ("process", "busy", "buffered", "queues", "seen"):
        workers.add_column(column, justify="right" if column in ("busy", "buffered") else "left")
    for process in view.processes:
        ago = (view.taken_at - process.seen_at).total_seconds()
        workers.add_row(
            process.id,
            f"{process.busy}/{process.workers}",
            str(process.buffered),
            ", ".join(process.queues) if process.queues else "all",
            f"{max(0.0, ago):.0f} s ago",
        )
    if not view.processes:
        workers.add_row("(no worker pool is running)", "", "", "", "")

    succeeded, failed = per_minute(view.minutes, view.taken_at)
    done = Text.assemble(
        ("finished per minute, last 15 min  ", "bold"),
        ("succeeded ", "green"),
        (sparkline(succeeded), "green"),
        (f" {succeeded[-1]}/min   ", "green"),
        ("failed ", "red"),
        (sparkline(failed), "red"),
        (f" {failed[-1]}/min", "red"),
    )
    oldest = (
        "nothing waiting"
        if view.oldest_waiting is None
        else f"oldest waiting job: {view.oldest_waiting:.1f} s"
    )
    return Group(queues, workers, done, Text(oldest), Text(f"{view.taken_at:%H:%M:%S} UTC", "dim"))


def per_minute(minutes: list[MinuteCount], now: datetime) -> tuple[list[int], list[int]]:
    """Counts for each of the last ``MINUTES`` minutes, oldest first (this minute last)."""
    current = int(now.timestamp() // 60)
    succeeded, failed = [0] * MINUTES, [0] * MINUTES
    for row in minutes:
        index = MINUTES - 1 - (current - int(row.minute.timestamp() // 60))
        if not 0 <= index < MINUTES:
            continue
        if row.outcome is Outcome.SUCCEEDED:
            succeeded[index] += row.count
        elif row.outcome in (Outcome.FAILED, Outcome.LOST):  # as the dashboard counts them
            failed[index] += row.count
    return succeeded, failed


def sparkline(values: list[int]) -> str:
    peak = max(values) or 1
    return "".join(BARS[round(value / peak * (len(BARS) - 1))] for value in values)
