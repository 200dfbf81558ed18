"""``jobq workflows show|cancel``: a workflow's jobs with their states and who waits for whom;
cancelling what has not ended (its running jobs are stopped). Workflows are made from Python
(``jq.submit``) or over HTTP (``POST /workflows``)."""

from __future__ import annotations

import sys
from typing import Any

import click

from jobq.cli.common import database_options, with_queue
from jobq.cli.exits import EXIT_FAILURE
from jobq.cli.output import echo_json, table
from jobq.domain.errors import WorkflowNotFound
from jobq.jobqueue import JobQueue
from jobq.wire import workflow_document


@click.group()
def workflows() -> None:
    """Workflows: jobs that wait for other jobs."""


@workflows.command()
@click.argument("workflow_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (as GET /workflows/ID).")
@database_options
def show(workflow_id: str, as_json: bool, **flags: Any) -> None:
    """Workflow WORKFLOW_ID: each job's state, and what it waits for."""

    async def go(jq: JobQueue) -> int:
        try:
            view = await jq.workflows.get(workflow_id)
        except WorkflowNotFound as exc:
            click.echo(f"jobq: error: {exc}", err=True)
            return EXIT_FAILURE
        document = workflow_document(view)
        if as_json:
            echo_json(document)
            return 0
        counts = ", ".join(f"{n} {state}" for state, n in sorted(document["counts"].items()))
        click.echo(f"workflow {view.record.id} {view.record.name or ''}".rstrip())
        click.echo(f"{document['status']}: {counts}")
        after: dict[str, list[str]] = {}
        for parent, child in view.edges:
            after.setdefault(child, []).append(parent[:8])
        table(
            ("JOB", "TYPE", "STATUS", "AFTER"),
            [
                (job.id, job.type, job.status.value, ", ".join(after.get(job.id, [])) or "-")
                for job in view.jobs
            ],
        )
        return 0

    sys.exit(with_queue(flags, go))


@workflows.command()
@click.argument("workflow_id")
@database_options
def cancel(workflow_id: str, **flags: Any) -> None:
    """Cancel every job of WORKFLOW_ID that has not ended (running ones are stopped)."""

    async def go(jq: JobQueue) -> int:
        try:
            cancelled = await jq.workflows.cancel(workflow_id)
        except WorkflowNotFound as exc:
            click.echo(f"jobq: error: {exc}", err=True)
            return EXIT_FAILURE
        click.echo(f"workflow {workflow_id}: {cancelled} job(s) cancelled")
        return 0

    sys.exit(with_queue(flags, go))
