"""``jobq jobs list|show|cancel|retry``: read jobs and change their state, through the
``JobQueue`` as the API does."""

from __future__ import annotations

import sys
from typing import Any

import click

from jobq.cli.common import database_options, fail, guard, open_queue
from jobq.cli.exits import EXIT_USAGE
from jobq.cli.output import attempts_json, echo_json, job_detail, job_json, job_rows
from jobq.domain.ids import parse_job_id
from jobq.domain.paging import DEFAULT_PAGE, MAX_PAGE
from jobq.domain.states import JobState
from jobq.jobqueue import CANCEL_MANY_DEFAULT, CANCEL_MANY_MAX
from jobq.store.records import JobFilter


@click.group()
def jobs() -> None:
    """List, show, cancel and retry jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobState]), help="Only this status.")
@click.option("--type", "job_type", help="Only this type.")
@click.option("--queue", help="Only this queue.")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_PAGE),
    default=DEFAULT_PAGE,
    show_default=True,
    help=f"Jobs per page, 1..{MAX_PAGE} (as GET /jobs).",
)
@click.option("--cursor", help="Continue after this job id (printed under a full page).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def jobs_list(
    status: str | None,
    job_type: str | None,
    queue: str | None,
    limit: int,
    cursor: str | None,
    as_json: bool,
    **flags: Any,
) -> None:
    """Jobs, newest first."""
    try:
        after = None if cursor is None else parse_job_id(cursor)
    except ValueError:
        fail(f"--cursor {cursor!r} is not a job id", EXIT_USAGE)
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            where = JobFilter(
                status=None if status is None else JobState(status), type=job_type, queue=queue
            )
            page = await jq.list_jobs(where, limit=limit, after=after)
        if as_json:
            echo_json({"jobs": [job_json(j) for j in page.jobs], "next_cursor": page.next_after})
        else:
            job_rows(page.jobs)
            if page.next_after is not None:
                click.echo(f"more: jobq jobs list --cursor {page.next_after}", err=True)
        return 0

    sys.exit(guard(go()))


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def jobs_show(job_id: str, as_json: bool, **flags: Any) -> None:
    """One job with its attempts."""
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            job = await jq.get(job_id)
            attempts = await jq.attempts(job.id)
        if as_json:
            echo_json({**job_json(job), "attempts": attempts_json(attempts)})
        else:
            job_detail(job, attempts)
        return 0

    sys.exit(guard(go()))


def _change(action: str) -> Any:
    @click.argument("job_id")
    @click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
    @database_options
    def command(job_id: str, as_json: bool, **flags: Any) -> None:
        jq = open_queue(flags, existing=True)

        async def go() -> int:
            async with jq:
                job = await (jq.cancel(job_id) if action == "cancel" else jq.retry(job_id))
            if as_json:
                echo_json(job_json(job))
            else:
                click.echo(f"{job.id} {job.status.value}")
            return 0

        sys.exit(guard(go()))

    return command


jobs.command("cancel", help="Cancel a pending, failed or running job (a run is stopped at once).")(
    _change("cancel")
)
jobs.command("retry", help="Run a dead or cancelled job again.")(_change("retry"))


@jobs.command("cancel-many")
@click.option("--type", "job_type", help="Only this type.")
@click.option("--queue", help="Only this queue.")
@click.option(
    "--status",
    type=click.Choice(["pending", "failed", "running"]),
    help="Only this state (default: any of the three).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, CANCEL_MANY_MAX),
    default=CANCEL_MANY_DEFAULT,
    show_default=True,
    help="Cancel at most this many.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def jobs_cancel_many(
    job_type: str | None,
    queue: str | None,
    status: str | None,
    limit: int,
    as_json: bool,
    **flags: Any,
) -> None:
    """Cancel the jobs of a type, a queue or a state (at least one of them), newest first;
    running ones are stopped."""
    if job_type is None and queue is None and status is None:
        fail("say which jobs: --type, --queue or --status (or several)", EXIT_USAGE)
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            report = await jq.cancel_many(
                job_type=job_type,
                queue=queue,
                status=None if status is None else JobState(status),
                limit=limit,
            )
        if as_json:
            echo_json({"cancelled": report.cancelled, "more": report.more})
        else:
            left = "; more match (run it again, or raise --limit)" if report.more else ""
            click.echo(f"cancelled {report.cancelled} jobs{left}")
        return 0

    sys.exit(guard(go()))
