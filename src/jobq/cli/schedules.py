"""``jobq schedules list|add|pause|resume|remove``: periodic jobs.

Schedules made here are kept in the store: every ``serve`` and ``worker`` process on it fires
them from their next tick (within a few seconds). With ``--app``, ``list`` also shows the
schedules your code declares, and ``pause``/``resume`` reach them too.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from jobq.cli.common import (
    app_options,
    database_options,
    fail,
    guard,
    json_object,
    open_queue,
)
from jobq.cli.exits import EXIT_USAGE
from jobq.cli.output import echo_json, table, when
from jobq.domain.errors import InvalidSchedule
from jobq.domain.schedule import DEFAULT_CATCH_UP, Missed, ScheduleInfo
from jobq.jobqueue import JobQueue


@click.group()
def schedules() -> None:
    """Periodic jobs: list them, make them, pause, resume and remove them."""


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@app_options
@database_options
def list_schedules(as_json: bool, **flags: Any) -> None:
    """Every schedule: in your code (with --app), then those made at run time."""

    async def go(jq: JobQueue) -> int:
        found = await jq.schedules.list()
        if as_json:
            echo_json([_as_json(info) for info in found])
            return 0
        table(
            ("NAME", "SOURCE", "TYPE", "CRON", "TIMEZONE", "STATE", "NEXT RUN", "LAST RUN"),
            [
                (
                    info.schedule.name,
                    "stored" if info.schedule.stored else "code",
                    info.schedule.job_type,
                    info.schedule.expression,
                    info.schedule.timezone,
                    "paused" if info.paused else "active",
                    "-" if info.paused or not info.next_ticks else when(info.next_ticks[0]),
                    "-" if info.last is None else when(info.last.tick),
                )
                for info in found
            ],
        )
        return 0

    sys.exit(_with_queue(flags, go, existing=True))


@schedules.command()
@click.argument("name")
@click.argument("job_type", metavar="TYPE")
@click.argument("cron")
@click.option("--timezone", default="UTC", show_default=True, help="An IANA time zone.")
@click.option("--payload", default="{}", help="The jobs' payload: a JSON object.")
@click.option("--queue", default="default", show_default=True)
@click.option("--priority", type=int, default=0, show_default=True)
@click.option(
    "--missed",
    type=click.Choice([m.value for m in Missed]),
    default=Missed.SKIP.value,
    show_default=True,
    help="Ticks missed while no process ran: none, the latest, or all (up to --catch-up).",
)
@click.option("--catch-up", type=int, default=DEFAULT_CATCH_UP, show_default=True)
@click.option("--paused", is_flag=True, help="Make it paused.")
@app_options
@database_options
def add(
    name: str,
    job_type: str,
    cron: str,
    timezone: str,
    payload: str,
    queue: str,
    priority: int,
    missed: str,
    catch_up: int,
    paused: bool,
    **flags: Any,
) -> None:
    """Make schedule NAME: enqueue TYPE at every tick of CRON (five fields, or six with
    seconds first; quote it)."""
    body = json_object(payload, "--payload")

    async def go(jq: JobQueue) -> int:
        try:
            info = await jq.schedules.create(
                job_type,
                cron,
                name=name,
                timezone=timezone,
                payload=body,
                queue=queue,
                priority=priority,
                missed=missed,
                catch_up=catch_up,
                paused=paused,
            )
        except InvalidSchedule as exc:
            fail(f"invalid {_option(exc.field)}: {exc}", EXIT_USAGE)
        state = "paused" if info.paused else f"next run {when(info.next_ticks[0])} UTC"
        click.echo(f"made schedule {name!r}: {info.schedule.cron.explain()}; {state}")
        return 0

    sys.exit(_with_queue(flags, go, existing=False))


@schedules.command()
@click.argument("name")
@app_options
@database_options
def pause(name: str, **flags: Any) -> None:
    """Pause schedule NAME: no process makes a job for its ticks until it is resumed."""

    async def go(jq: JobQueue) -> int:
        await jq.schedules.pause(name)
        click.echo(f"paused {name!r}")
        return 0

    sys.exit(_with_queue(flags, go, existing=True))


@schedules.command()
@click.argument("name")
@app_options
@database_options
def resume(name: str, **flags: Any) -> None:
    """Resume schedule NAME from its next tick (the ticks of the pause make no job)."""

    async def go(jq: JobQueue) -> int:
        info = await jq.schedules.resume(name)
        click.echo(f"resumed {name!r}; next run {when(info.next_ticks[0])} UTC")
        return 0

    sys.exit(_with_queue(flags, go, existing=True))


@schedules.command()
@click.argument("name")
@app_options
@database_options
def remove(name: str, **flags: Any) -> None:
    """Remove schedule NAME (made at run time; the jobs it made stay)."""

    async def go(jq: JobQueue) -> int:
        await jq.schedules.remove(name)
        click.echo(f"removed {name!r}")
        return 0

    sys.exit(_with_queue(flags, go, existing=True))


def _option(field: str) -> str:
    """How the command names a schedule's field: an argument or an option."""
    return {"name": "NAME", "type": "TYPE", "cron": "CRON"}.get(
        field, "--" + field.replace("_", "-")
    )


def _as_json(info: ScheduleInfo) -> dict[str, Any]:
    schedule = info.schedule
    return {
        "name": schedule.name,
        "source": "stored" if schedule.stored else "code",
        "type": schedule.job_type,
        "cron": schedule.expression,
        "timezone": schedule.timezone,
        "description": schedule.cron.explain(),
        "payload": dict(schedule.payload),
        "queue": schedule.queue,
        "priority": schedule.priority,
        "missed": schedule.missed.value,
        "catch_up": schedule.catch_up,
        "paused": info.paused,
        "next_runs": [] if info.paused else [t.isoformat() for t in info.next_ticks],
        "last_run": None
        if info.last is None
        else {"tick": info.last.tick.isoformat(), "job_id": info.last.job_id},
    }


def _with_queue(
    flags: dict[str, Any], action: Callable[[JobQueue], Awaitable[int]], *, existing: bool
) -> int:
    """Run ``action`` on the queue the settings name, with the app's schedules; exit 1 on a
    store error, an unknown name or a refused change."""
    jq = open_queue(flags, existing=existing, with_schedules=True)

    async def go() -> int:
        async with jq:
            return await action(jq)

    return guard(go())
