"""``jobq types list|limit|unlimit``: the job types, their waiting and running jobs, and their
limits across the fleet.

A limit set here is kept in the store and wins over the one the app's code declares
(``@jq.job(..., concurrency=5)``) until ``jobq types unlimit`` drops it; every ``serve`` and
``worker`` process keeps to it (SQLite: from its commit on; PostgreSQL: within a second).
"""

from __future__ import annotations

import sys
from typing import Any

import click

from jobq.cli.common import database_options, with_queue
from jobq.cli.limit_options import clear_limit, limit_options, set_limit
from jobq.cli.output import echo_json, table
from jobq.cli.queues import limit_text
from jobq.domain.limits import LimitScope
from jobq.jobqueue import JobQueue
from jobq.names import check_name


def _type_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_name(value, what="job type")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def types() -> None:
    """The job types: waiting and running jobs, limits."""


@types.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def list_types(as_json: bool, **flags: Any) -> None:
    """Every job type that has jobs waiting or running, a limit, or a handler in the app."""

    async def go(jq: JobQueue) -> int:
        infos = await jq.types()
        if as_json:
            echo_json(
                [
                    {
                        "name": info.name,
                        "waiting": info.waiting,
                        "running": info.running,
                        "handled": info.handled,
                        "limit": None if info.limits is None else info.limits.to_dict(),
                    }
                    for info in infos
                ]
            )
            return 0
        table(
            ("TYPE", "WAITING", "RUNNING", "LIMIT"),
            [(info.name, info.waiting, info.running, limit_text(info.limits)) for info in infos],
        )
        return 0

    sys.exit(with_queue(flags, go))


@types.command()
@click.argument("name", callback=_type_name)
@limit_options
@database_options
def limit(name: str, **flags: Any) -> None:
    """Limit job type NAME across every process: at most N of its jobs running at once,
    and/or N starting per period. Wins over the app's code until `jobq types unlimit`."""
    sys.exit(set_limit(LimitScope.TYPE, name, flags))


@types.command()
@click.argument("name", callback=_type_name)
@database_options
def unlimit(name: str, **flags: Any) -> None:
    """Drop the limit set at run time on job type NAME: the app's code's holds again."""
    sys.exit(clear_limit(LimitScope.TYPE, name, flags))
