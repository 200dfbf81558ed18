"""``jobq prune``: delete finished jobs whose retention has passed, by hand.

Every ``serve`` and ``worker`` process does this by itself every few seconds; this command is
for a database no pool runs on, for a first clean-up after lowering a retention, or to see what
would go (``--dry-run``). It sweeps as the pools do: small batches, each a short transaction.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from jobq.cli.common import app_options, database_options, guard, open_queue
from jobq.cli.output import echo_json, table
from jobq.domain.retention import DURATION_HELP, describe_times, parse_duration
from jobq.pruning import PruneReport


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value, forever=False)
    except ValueError as exc:
        allowed = DURATION_HELP.removesuffix(", or forever")
        raise click.BadParameter(f"{exc}: give {allowed}") from None


@click.command()
@click.option(
    "--older-than",
    callback=_duration,
    metavar="DURATION",
    help="Delete every finished job (succeeded, cancelled, dead) older than this, whatever "
    "the retention settings say: 3600, 90m, 24h, 7d.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@app_options
@database_options
def prune(older_than: float | None, dry_run: bool, as_json: bool, **flags: Any) -> None:
    """Delete finished jobs (and their attempts) whose retention has passed.

    The retention is JOBQ_RETAIN_SUCCEEDED, JOBQ_RETAIN_CANCELLED and JOBQ_RETAIN_DEAD, and the
    job types' own (Retain in @jq.job, as the worker processes last recorded it); with
    --older-than, that age for every finished job instead. Pending, running and failed jobs
    are never deleted.
    """
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            policy = await jq.pruning.policy()
            if older_than is not None:
                policy = policy.everything_older_than(older_than)
            report = await jq.pruning.prune(policy, dry_run=dry_run)
        if as_json:
            echo_json(_as_json(report))
            return 0
        _print(report)
        if older_than is None:
            click.echo(f"retention: {describe_times(policy.times)}", err=True)
        return 0

    sys.exit(guard(go()))


def _print(report: PruneReport) -> None:
    if report.counts:
        table(
            ("STATE", "TYPE", "WOULD DELETE" if report.dry_run else "DELETED"),
            [(state.value, job_type, n) for (state, job_type), n in sorted(report.counts.items())],
        )
    verb = "would delete" if report.dry_run else "deleted"
    click.echo(f"{verb} {report.total} finished job{'' if report.total == 1 else 's'}")


def _as_json(report: PruneReport) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "total": report.total,
        "by_state": report.by_state(),
        "by_type": [
            {"status": state.value, "type": job_type, "count": n}
            for (state, job_type), n in sorted(report.counts.items())
        ],
    }
