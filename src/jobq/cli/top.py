"""``jobq top``: a live terminal view of the queues, the worker processes and how fast jobs
finish, read from the store (so it works beside any number of processes, API or not)."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from jobq.domain.states import JobState
from jobq.insights import Overview, age

MINUTES = 15
BARS = " ▁▂▃▄▅▆▇█"
STATE_STYLES = {
    JobState.WAITING: "blue",
    JobState.PENDING: "yellow",
    JobState.RUNNING: "cyan",
    JobState.SUCCEEDED: "green",
    JobState.FAILED: "magenta",
    JobState.DEAD: "red",
    JobState.CANCELLED: "dim",
}


def render(view: Overview) -> Group:
    queues = Table(title="Queues", title_justify="left", expand=True)
    queues.add_column("queue")
    # `waiting` (jobs that wait for others) only when some do: the table fits 80 columns
    waiting = any(row.get(JobState.WAITING.value) for row in view.counts.values())
    states = [s for s in JobState if s is not JobState.WAITING or waiting]
    for state in states:
        queues.add_column(state.value, justify="right", style=STATE_STYLES[state])
    paused = {pause.queue for pause in view.paused}
    for name, row in sorted(view.counts.items()):
        label = f"{name} [yellow](paused)[/]" if name in paused else name
        queues.add_row(label, *(str(row.get(state.value, 0)) for state in states))
    if not view.counts:
        queues.add_row("(no jobs yet)", *("" for _ in states))

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

    succeeded, failed = view.series()
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
    parts: list[Table | Text] = [queues, workers]
    if view.waiting:
        parts.append(waiting_table(view))
    parts += [done, Text(oldest)]
    parts += [Text(f"⚠ {warning}", "bold red") for warning in view.warnings]
    parts.append(Text(f"{view.taken_at:%H:%M:%S} UTC", "dim"))
    return Group(*parts)


def waiting_table(view: Overview) -> Table:
    waiting = Table(title="Waiting by type", title_justify="left", expand=True)
    for column in ("type", "due", "oldest", "processes", "no worker"):
        waiting.add_column(column, justify="left" if column == "type" else "right")
    for t in view.waiting:
        waiting.add_row(
            t.type,
            str(t.waiting),
            age(t.oldest),
            str(t.processes),
            Text(str(t.unhandled), "bold red") if t.unhandled else "",
        )
    return waiting


def sparkline(values: list[int]) -> str:
    peak = max(values) or 1
    return "".join(BARS[round(value / peak * (len(BARS) - 1))] for value in values)
