"""``jobq stats`` (jobs by queue and status, once) and ``jobq top`` (a live view, drawn by
``top.py``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from jobq.cli.common import database_options, guard, open_queue
from jobq.cli.output import echo_json, table
from jobq.cli.top import MINUTES, render
from jobq.domain.errors import StoreError
from jobq.domain.job import counts_by_queue
from jobq.domain.states import JobState
from jobq.insights import age


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def stats(as_json: bool, **flags: Any) -> None:
    """Jobs by queue and status, then due jobs by type (a type that no live worker process
    can run is flagged). --json prints the first part only: queue -> status -> jobs."""
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            by_queue = counts_by_queue(await jq.counts())
            waiting = [] if as_json else await jq.waiting()
            paused = set() if as_json else {pause.queue for pause in await jq.pauses.list()}
        if as_json:
            echo_json(by_queue)
            return 0
        # `waiting` (jobs that wait for others) only when some do
        some_wait = any(row.get(JobState.WAITING.value) for row in by_queue.values())
        states = [s.value for s in JobState if s is not JobState.WAITING or some_wait]
        table(
            ("QUEUE", *(s.upper() for s in states)),
            [
                (
                    f"{queue} (paused)" if queue in paused else queue,
                    *(row.get(s, 0) for s in states),
                )
                for queue, row in sorted(by_queue.items())
            ],
        )
        if waiting:
            click.echo()
            table(
                ("WAITING TYPE", "DUE", "OLDEST", "PROCESSES", "NO WORKER"),
                [
                    (t.type, t.waiting, age(t.oldest), t.processes, t.unhandled or "")
                    for t in waiting
                ],
            )
        for t in waiting:
            if t.warning is not None:
                click.secho(f"warning: {t.warning}", fg="yellow", err=True)
        return 0

    sys.exit(guard(go()))


@click.command()
@click.option(
    "--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True,
    help="Seconds between refreshes.",
)  # fmt: skip
@click.option("--once", is_flag=True, help="Print one picture and exit (for scripts, logs).")
@database_options
def top(interval: float, once: bool, **flags: Any) -> None:
    """A live view of queues, worker processes and throughput (Ctrl-C to leave)."""
    jq = open_queue(flags, existing=True)
    console = Console()

    async def go() -> int:
        async with jq:
            if once:
                console.print(render(await jq.overview(minutes=MINUTES)))
                return 0
            with Live(console=console, screen=False, auto_refresh=False) as live:
                while True:
                    try:
                        view: Any = render(await jq.overview(minutes=MINUTES))
                    except StoreError as exc:  # keep watching: it shows when the store is back
                        view = Text(f"the store does not answer: {exc}", style="red")
                    live.update(view, refresh=True)
                    await asyncio.sleep(interval)

    try:
        sys.exit(guard(go()))
    except KeyboardInterrupt:
        sys.exit(0)
