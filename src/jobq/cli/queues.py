"""``jobq queues list|pause|resume|limit|unlimit``: the queues, stopping and starting their
claims, and limiting them.

A pause is kept in the store: every ``serve`` and ``worker`` process on it stops claiming the
queue's jobs (SQLite: from the pause's commit on; PostgreSQL: within a second), and it outlives
restarts. Jobs are still accepted into a paused queue, and its running jobs finish. A limit is
kept in the store too: no process claims a job of the queue past it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from jobq.cli.common import database_options, fail, with_queue
from jobq.cli.exits import EXIT_USAGE
from jobq.cli.limit_options import clear_limit, limit_options, set_limit
from jobq.cli.output import echo_json, table, when
from jobq.domain.limits import LimitScope, ScopeLimits
from jobq.domain.pauses import QueuePause
from jobq.domain.retention import parse_duration
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.names import check_name

WAITING = (JobState.PENDING.value, JobState.FAILED.value)


def _queue_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_name(value, what="queue")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _until(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO 8601 time with its zone, or a duration from now (30m, 2h, 1d)."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value, forever=False)
    except ValueError:
        pass
    else:
        assert seconds is not None  # forever is refused
        try:
            return datetime.now(UTC) + timedelta(seconds=seconds)
        except OverflowError:
            raise click.BadParameter(f"{value!r} is too far ahead") from None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither a time (2026-12-24T18:00:00+01:00) nor a duration (30m, 2h)"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} needs its time zone: 2026-12-24T18:00:00+01:00")
    return moment


@click.group()
def queues() -> None:
    """The queues: their jobs, pause and resume, limits."""


@queues.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def list_queues(as_json: bool, **flags: Any) -> None:
    """Every queue that has jobs or a pause: waiting, running, paused."""

    async def go(jq: JobQueue) -> int:
        rows = [(info.name, info.counts, info.pause, info.limits) for info in await jq.queues()]
        if as_json:
            echo_json(
                [
                    {
                        "name": name,
                        "counts": row,
                        "paused": pause is not None,
                        "paused_at": None if pause is None else pause.paused_at.isoformat(),
                        "paused_until": None
                        if pause is None or pause.until is None
                        else pause.until.isoformat(),
                        "limit": None if limits is None else limits.to_dict(),
                    }
                    for name, row, pause, limits in rows
                ]
            )
            return 0
        table(
            ("QUEUE", "STATE", "WAITING", "RUNNING", "PAUSED SINCE", "UNTIL", "LIMIT"),
            [
                (
                    name,
                    "paused" if pause else "active",
                    sum(row.get(state, 0) for state in WAITING),
                    row.get(JobState.RUNNING.value, 0),
                    "-" if pause is None else when(pause.paused_at),
                    _end(pause),
                    limit_text(limits),
                )
                for name, row, pause, limits in rows
            ],
        )
        return 0

    sys.exit(with_queue(flags, go))


@queues.command()
@click.argument("name", callback=_queue_name)
@click.option(
    "--until",
    callback=_until,
    metavar="TIME",
    help="End the pause by itself then: a time with its zone (2026-12-24T18:00:00+01:00) or "
    "a duration from now (30m, 2h). Default: until `jobq queues resume`.",
)
@database_options
def pause(name: str, until: datetime | None, **flags: Any) -> None:
    """Pause queue NAME: no process claims its jobs until it is resumed (running jobs finish;
    new jobs are still accepted)."""

    async def go(jq: JobQueue) -> int:
        try:
            done = await jq.pauses.pause(name, until=until)
        except ValueError as exc:
            fail(f"--until: {exc}", EXIT_USAGE)
        end = "until resumed" if done.until is None else f"until {when(done.until)} UTC"
        click.echo(f"paused queue {name!r} {end}")
        return 0

    sys.exit(with_queue(flags, go))


@queues.command()
@click.argument("name", callback=_queue_name)
@database_options
def resume(name: str, **flags: Any) -> None:
    """Resume queue NAME: its waiting jobs are claimed again at once."""

    async def go(jq: JobQueue) -> int:
        if await jq.pauses.resume(name):
            click.echo(f"resumed queue {name!r}")
        else:
            click.echo(f"queue {name!r} was not paused")
        return 0

    sys.exit(with_queue(flags, go))


@queues.command()
@click.argument("name", callback=_queue_name)
@limit_options
@database_options
def limit(name: str, **flags: Any) -> None:
    """Limit queue NAME across every process: at most N of its jobs (of every type) running at
    once, and/or N starting per period. Replaces the queue's last limit."""
    sys.exit(set_limit(LimitScope.QUEUE, name, flags))


@queues.command()
@click.argument("name", callback=_queue_name)
@database_options
def unlimit(name: str, **flags: Any) -> None:
    """Drop queue NAME's limit."""
    sys.exit(clear_limit(LimitScope.QUEUE, name, flags))


def limit_text(limits: ScopeLimits | None) -> str:
    """What limits a queue or type, for a table: "5 at once (code)", or "-"."""
    if limits is not None and limits.set is not None and not limits.set:
        return "none (set: the code's is lifted)"
    if limits is None or limits.origin is None:
        return "-"
    return f"{limits.effective.describe()} ({limits.origin.value})"


def _end(pause: QueuePause | None) -> str:
    if pause is None:
        return "-"
    return "resume" if pause.until is None else when(pause.until)
