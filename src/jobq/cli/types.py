"""``jobq types list|show|limit|unlimit``: the job types, their payload schemas, the live
worker processes that run them, their waiting and running jobs, and their limits across the
fleet. A type's schema comes from the app's code, or from a live worker process that published
it (``jobq types show`` works without the code).

A limit set here is kept in the store and wins over the one the app's code declares
(``@jq.job(..., concurrency=5)``) until ``jobq types unlimit`` drops it; every ``serve`` and
``worker`` process keeps to it (SQLite: from its commit on; PostgreSQL: within a second).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from jobq.cli.common import database_options, with_queue
from jobq.cli.exits import EXIT_FAILURE
from jobq.cli.limit_options import clear_limit, limit_options, set_limit
from jobq.cli.output import echo_json, table
from jobq.cli.queues import limit_text
from jobq.domain.limits import LimitScope
from jobq.insights import TypeInfo, type_document
from jobq.jobqueue import JobQueue
from jobq.names import check_name


def _type_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_name(value, what="job type")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group()
def types() -> None:
    """The job types: schemas, processes, waiting and running jobs, limits."""


@types.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def list_types(as_json: bool, **flags: Any) -> None:
    """Every job type that has jobs waiting or running, a limit, or a handler in the app."""

    async def go(jq: JobQueue) -> int:
        infos = await jq.types()
        if as_json:
            echo_json([type_document(info) for info in infos])
            return 0
        table(
            ("TYPE", "WAITING", "RUNNING", "LIMIT", "PROCESSES", "PAYLOAD"),
            [
                (
                    info.name,
                    info.waiting,
                    info.running,
                    limit_text(info.limits),
                    len(info.processes),
                    payload_text(info),
                )
                for info in infos
            ],
        )
        for info in infos:
            for warning in info.warnings:
                click.echo(f"warning: {warning}", err=True)
        return 0

    sys.exit(with_queue(flags, go))


@types.command()
@click.argument("name", callback=_type_name)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /types/NAME).")
@database_options
def show(name: str, as_json: bool, **flags: Any) -> None:
    """Job type NAME: its payload and result schemas, options, the live worker processes
    that run it, its jobs waiting and running, its limits and warnings."""

    async def go(jq: JobQueue) -> int:
        found = next((info for info in await jq.types() if info.name == name), None)
        if found is None:
            click.echo(
                f"jobq: error: no job type {name!r}: no live process runs it, and it has no jobs",
                err=True,
            )
            return EXIT_FAILURE
        document = type_document(found)
        if as_json:
            echo_json(document)
            return 0
        processes = ", ".join(document["processes"]) or "none live"
        click.echo(f"{found.name}: {found.waiting} waiting, {found.running} running")
        click.echo(f"processes: {processes}")
        click.echo(f"limit: {limit_text(found.limits)}")
        for key, value in (document["options"] or {}).items():
            click.echo(f"{key}: {json.dumps(value)}")
        for part in ("payload_schema", "result_schema"):
            schema = document[part]
            click.echo(f"{part}: " + ("any" if schema is None else json.dumps(schema, indent=2)))
        for warning in found.warnings:
            click.echo(f"warning: {warning}", err=True)
        return 0

    sys.exit(with_queue(flags, go))


def payload_text(info: TypeInfo) -> str:
    """The payload's top-level fields, required ones marked ``*``: ``customer*, note``."""
    schema = info.spec.payload_schema if info.spec is not None else None
    if schema is None:
        return "any" if info.spec is not None else "-"
    required = set(schema.get("required", ()))
    fields = [f"{name}*" if name in required else name for name in schema.get("properties", {})]
    return ", ".join(fields) or "{}"


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
