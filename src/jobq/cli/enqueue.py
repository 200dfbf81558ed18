"""``jobq enqueue``: one job from the command line, or every line of a file (``--from-file``,
through ``bulk.py``); with ``--wait``, its progress until it ends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import click
from rich.console import Console
from rich.text import Text

from jobq.cli.bulk import enqueue_lines
from jobq.cli.common import (
    app_options,
    database_options,
    fail,
    guard,
    json_object,
    open_queue,
)
from jobq.cli.exits import EXIT_FAILURE, EXIT_USAGE, EXIT_WAIT_TIMEOUT
from jobq.cli.output import echo_json, job_json
from jobq.domain.errors import IdempotencyConflict, InvalidJob, UnknownJobType
from jobq.domain.job import Job
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.names import check_name, did_you_mean
from jobq.registry import Registry


async def enqueue_file(jq: JobQueue, source: TextIO, *, as_json: bool) -> int:
    """Enqueue every line of ``source``, with a progress bar on stderr when its size is known
    (a file, not a pipe); exit 1 if a line was refused."""
    try:
        info = os.fstat(source.fileno())
        total = info.st_size if stat.S_ISREG(info.st_mode) else 0
    except (OSError, ValueError):
        total = 0
    async with jq:
        if total:
            bar: Any
            with click.progressbar(
                length=total, label="enqueueing", file=sys.stderr, show_pos=False
            ) as bar:
                report = await enqueue_lines(
                    jq, source, on_line=lambda text: bar.update(len(text.encode()))
                )
        else:
            report = await enqueue_lines(jq, source)
    for rejected in report.rejected:
        click.echo(f"line {rejected.line}: {rejected.reason}", err=True)
    if as_json:
        echo_json(
            {
                "created": report.created,
                "existing": report.existing,
                "rejected": [{"line": r.line, "error": r.reason} for r in report.rejected],
            }
        )
    else:
        click.echo(
            f"{report.created} enqueued, {report.existing} already there, "
            f"{len(report.rejected)} refused"
        )
    return EXIT_FAILURE if report.rejected else 0


#: seconds between two looks at which live worker processes would run a waited-for job
RUNNERS_EVERY = 2.0


def describe_progress(job: Job) -> str:
    """A waited-for job's state in one line: status, attempt, progress and its message."""
    parts = [job.status.value, f"attempt {job.attempt}/{job.max_attempts}"]
    if job.progress is not None:
        parts.append(f"{job.progress:.0%}")
    if job.progress_message:
        parts.append(job.progress_message)
    return f"{job.id} " + " · ".join(parts)


class _Follower:
    """How ``--wait`` shows a job: on a terminal a spinner whose text follows the job, elsewhere
    a line per change; notes (why it may wait for ever) as lines of their own on stderr."""

    def __init__(self, spinner: Any | None, console: Console | None, job: Job) -> None:
        self._spinner, self._console, self.last = spinner, console, job

    def follow(self, current: Job) -> None:
        self.last = current
        if self._spinner is None:
            click.echo(describe_progress(current), err=True)
        else:
            self._spinner.update(Text(describe_progress(current)))  # Text: never markup

    def say(self, note: str) -> None:
        if self._console is None:
            click.echo(note, err=True)
        else:
            self._console.print(Text(note))


@contextlib.contextmanager
def _waiting(job: Job) -> Iterator[_Follower]:
    if not sys.stderr.isatty():
        yield _Follower(None, None, job)
        return
    console = Console(stderr=True)
    with console.status(Text(describe_progress(job))) as spinner:
        follower = _Follower(spinner, console, job)
        yield follower
    console.print(Text(describe_progress(follower.last)))  # the spinner goes; its last word stays


async def _wait(jq: JobQueue, job: Job, timeout: float | None) -> Job:
    """The job once it has ended, following it; meanwhile, from the processes' presence, say
    whenever no live worker process would run it (and when one comes). ``TimeoutError``."""
    with _waiting(job) as follower:

        async def watch_runners() -> None:
            said: str | None = None
            while True:
                note = await jq.runner_missing(job.queue, job.type)
                if note != said:
                    if note is not None:
                        follower.say(f"{job.id}: {note}")
                    elif said is not None:
                        follower.say(f"{job.id}: a worker process for `{job.type}` is up")
                    said = note
                await asyncio.sleep(RUNNERS_EVERY)

        watcher = asyncio.create_task(watch_runners())
        try:
            return await jq.wait(job.id, timeout=timeout, on_change=follower.follow)
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def named(job_type: str) -> bool:
    """Whether ``job_type`` is a name a type may have (if not, the enqueue says why)."""
    try:
        check_name(job_type, what="job type")
    except ValueError:
        return False
    return True


def unknown_type(registry: Registry, job_type: str) -> str:
    """Why ``jobq enqueue`` refuses a type neither it nor any live worker process knows."""
    return (
        f"unknown job type {job_type!r}{did_you_mean(job_type, registry.names())}: no live "
        f"worker process runs it, and without --app this command knows only "
        f"{', '.join(registry.names())}. Pass --app module:attribute naming your JobQueue "
        "(or --accept-unknown-types to enqueue it anyway)"
    )


def _payload(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if text == "-":
        text = sys.stdin.read()
    return json_object(text, "PAYLOAD")


@click.command()
@click.argument("job_type", metavar="TYPE", required=False)
@click.argument("payload", required=False)
@click.option(
    "--from-file",
    "from_file",
    type=click.File("r", encoding="utf-8-sig"),
    help="Enqueue one job per line of this JSON-lines file ('-': stdin), as POST /jobs takes "
    "them, in batches; report each line refused.",
)
@click.option("--queue", default="default", show_default=True, help="Queue to put it on.")
@click.option("--priority", type=int, default=0, show_default=True, help="Higher runs first.")
@click.option("--delay", type=float, help="Seconds from now until it is due.")
@click.option("--max-attempts", type=int, help="Attempts before it is dead (type's default).")
@click.option("--timeout", type=float, help="Seconds one attempt may run (type's default).")
@click.option("--idempotency-key", help="A repeat with this key returns the first job.")
@click.option("--wait", is_flag=True, help="Wait until it ends; exit 0 if it succeeded, else 1.")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="With --wait: stop waiting after S seconds (exit 3; the job stays enqueued).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@database_options
@app_options
def enqueue(
    job_type: str | None,
    payload: str | None,
    from_file: TextIO | None,
    queue: str,
    priority: int,
    delay: float | None,
    max_attempts: int | None,
    timeout: float | None,
    idempotency_key: str | None,
    wait: bool,
    wait_timeout: float | None,
    as_json: bool,
    **flags: Any,
) -> None:
    """Enqueue a job of TYPE with a JSON object PAYLOAD ('-' reads it from stdin), or every
    job of a file with --from-file."""
    if from_file is not None:
        if job_type is not None or wait:
            fail("--from-file takes no TYPE, PAYLOAD or --wait", EXIT_USAGE)
        sys.exit(guard(enqueue_file(open_queue(flags), from_file, as_json=as_json)))
    if job_type is None:
        fail("give a job TYPE (or --from-file FILE)", EXIT_USAGE)
    body = _payload(payload)
    jq = open_queue(flags)

    async def go() -> int:
        async with jq:
            if not jq.accept_unknown_types and job_type not in jq.registry and named(job_type):
                # not known here: enqueue it if a live worker process runs it on that queue
                if await jq.runner_missing(queue, job_type) is not None:
                    fail(unknown_type(jq.registry, job_type), EXIT_USAGE)
                jq.accept_unknown_types = True
            try:
                job = await jq.enqueue(
                    job_type,
                    body,
                    queue=queue,
                    priority=priority,
                    delay=delay,
                    max_attempts=max_attempts,
                    timeout=timeout,
                    idempotency_key=idempotency_key,
                )
            except (InvalidJob, UnknownJobType, IdempotencyConflict) as exc:
                fail(str(exc), EXIT_USAGE)
            if not wait:
                if as_json:
                    echo_json(job_json(job))
                else:
                    click.echo(f"{job.id} {job.status.value} ({job.type} on {job.queue})")
                return 0
            click.echo(f"{job.id} enqueued; waiting", err=True)
            try:
                job = await _wait(jq, job, wait_timeout)
            except TimeoutError:
                current = await jq.get(job.id)
                fail(
                    f"job {job.id} is still {current.status.value} after {wait_timeout:g} s "
                    "(--wait-timeout); it stays enqueued",
                    EXIT_WAIT_TIMEOUT,
                )
            if as_json:
                echo_json(job_json(job))
            elif job.status is JobState.SUCCEEDED:
                click.echo(json.dumps(job.result, ensure_ascii=False))
            else:
                error = job.last_error
                detail = "" if error is None else f": {error.type}: {error.message}"
                click.echo(f"job {job.id} {job.status.value}{detail}", err=True)
            return 0 if job.status is JobState.SUCCEEDED else EXIT_FAILURE

    sys.exit(guard(go()))
