"""How commands print: aligned tables for people, JSON for scripts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from jobq.domain.job import Attempt, Job
from jobq.wire import AttemptOut, JobOut


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def job_json(job: Job) -> dict[str, Any]:
    return JobOut.of(job).model_dump(mode="json")


def attempts_json(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    return [AttemptOut.of(a).model_dump(mode="json") for a in attempts]


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def job_rows(jobs: Sequence[Job]) -> None:
    table(
        ("ID", "TYPE", "QUEUE", "STATUS", "ATTEMPT", "CREATED", "LAST ERROR"),
        [
            (
                job.id,
                job.type,
                job.queue,
                job.status.value,
                f"{job.attempt}/{job.max_attempts}",
                when(job.created_at),
                ""
                if job.last_error is None
                else f"{job.last_error.type}: {job.last_error.message}"[:60],
            )
            for job in jobs
        ],
    )


def job_detail(job: Job, attempts: Sequence[Attempt]) -> None:
    fields = [
        ("id", job.id),
        ("type", job.type),
        ("queue", job.queue),
        ("status", job.status.value),
        ("priority", job.priority),
        ("attempt", f"{job.attempt} of {job.max_attempts}"),
        ("run at", when(job.run_at)),
        ("created", when(job.created_at)),
        ("started", when(job.started_at)),
        ("finished", when(job.finished_at)),
        ("worker", job.worker_id or "-"),
        ("dead reason", job.dead_reason or "-"),
        ("payload", json.dumps(job.payload, ensure_ascii=False)),
        ("result", json.dumps(job.result, ensure_ascii=False)),
    ]
    if job.last_error is not None:
        fields.append(("last error", f"{job.last_error.type}: {job.last_error.message}"))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        click.echo(f"{name.ljust(width)}  {value}")
    if attempts:
        click.echo("\nattempts:")
        table(
            ("#", "OUTCOME", "WORKER", "STARTED", "FINISHED", "ERROR"),
            [
                (
                    a.attempt,
                    a.outcome or "running",
                    a.worker_id or "-",
                    when(a.started_at),
                    when(a.finished_at),
                    "" if a.error is None else f"{a.error.type}: {a.error.message}",
                )
                for a in attempts
            ],
        )
    for a in attempts:  # the tracebacks, oldest attempt first, after the table
        if a.error is not None and a.error.traceback:
            click.echo(f"\nattempt {a.attempt} traceback:")
            click.echo(a.error.traceback.rstrip("\n"))
