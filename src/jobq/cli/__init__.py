"""The ``jobq`` command. Each command parses, builds the settings, and calls one function.

Exit status: 0 done; 1 failed (a job that ended badly with --wait, an unknown id, a refused
state change, a store error); 2 a bad flag, setting or argument.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from typing import Any, TextIO

import click
from rich.console import Console
from rich.live import Live
from rich.text import Text

from jobq import __version__
from jobq.cli.bulk import enqueue_lines
from jobq.cli.common import (
    EXIT_FAILURE,
    EXIT_USAGE,
    fail,
    load_registry,
    run,
    setting_option,
    settings_from,
    store_options,
)
from jobq.cli.output import attempts_json, echo_json, job_detail, job_json, job_rows, table
from jobq.cli.tokens import tokens
from jobq.cli.top import MINUTES, render
from jobq.config import ENV_NAMES, FIELDS, FLAG_NAMES
from jobq.domain.errors import (
    IdempotencyConflict,
    InvalidJob,
    JobqError,
    StoreError,
    UnknownJobType,
)
from jobq.domain.ids import parse_job_id
from jobq.domain.job import Job, counts_by_queue
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.service import run_service
from jobq.store import run_migrations, schema_status
from jobq.store.records import JobFilter
from jobq.store.url import redact


def pool_options(fn: Any) -> Any:
    for option in reversed(
        (
            setting_option("worker_count", "Concurrent workers (default 10).", metavar="N"),
            setting_option(
                "queue_capacity", "Claimed jobs waiting for a worker, at most (100).", metavar="N"
            ),
            setting_option(
                "shutdown_timeout", "Seconds running jobs get to finish (30).", metavar="S"
            ),
            setting_option(
                "lease_seconds", "Seconds a claim lasts without a heartbeat (30).", metavar="S"
            ),
            setting_option("poll_interval", "Seconds between claims when idle (1).", metavar="S"),
            setting_option(
                "queues", "Comma-separated queues to work on (default: all).", metavar="Q1,Q2"
            ),
        )
    ):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="jobq")
def cli() -> None:
    """jobq: a durable background-job queue.

    Settings come from flags, then JOBQ_* environment variables, then defaults;
    `jobq config` shows the result and where each value came from.
    """


@cli.command()
@setting_option("host", "Address to bind (default 127.0.0.1).", metavar="HOST")
@setting_option("port", "Port to bind (default 8080; 0: any free port).", metavar="PORT")
@setting_option("metrics_port", "Also serve /metrics alone on this port (0: any).", metavar="PORT")
@setting_option(
    "allowed_hosts",
    "Host names clients use (default on loopback: localhost, 127.0.0.1, ::1).",
    metavar="H1,H2",
)
@setting_option(
    "insecure",
    "Serve beyond loopback with no API token (only behind a proxy that authenticates).",
    is_flag=True,
    flag_value="true",
)
@pool_options
@store_options
def serve(**flags: Any) -> None:
    """Run the HTTP API and a worker pool in one process (--workers 0: the API alone)."""
    loaded = settings_from(flags)
    registry = load_registry(loaded, serves_api=True)
    sys.exit(run(run_service(loaded.settings, registry, http=True)))


@cli.command()
@setting_option("host", "Address for --metrics-port (default 127.0.0.1).", metavar="HOST")
@setting_option(
    "metrics_port", "Serve /metrics, /health and /ready on this port (0: any).", metavar="PORT"
)
@setting_option("allowed_hosts", "Host names clients use for --metrics-port.", metavar="H1,H2")
@setting_option(
    "insecure",
    "Serve beyond loopback with no API token (only behind a proxy that authenticates).",
    is_flag=True,
    flag_value="true",
)
@pool_options
@store_options
def worker(**flags: Any) -> None:
    """Run a worker pool only, claiming jobs from the store."""
    loaded = settings_from(flags)
    if loaded.settings.worker_count < 1:
        fail(
            f"invalid setting {loaded.sources['worker_count'].split(' ', 1)[-1]}=0: "
            "jobq worker needs at least one worker; allowed: an integer 1..1000",
            EXIT_USAGE,
        )
    registry = load_registry(loaded)
    sys.exit(run(run_service(loaded.settings, registry, http=False)))


def _open(flags: dict[str, Any]) -> JobQueue:
    loaded = settings_from(flags, one_shot=True)
    return JobQueue(
        loaded.settings.database_url,
        registry=load_registry(loaded),
        builtins=False,
        accept_unknown_types=loaded.settings.accept_unknown_types,
        postgres=loaded.settings.postgres_options(),
    )


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


def describe_progress(job: Job) -> str:
    """A waited-for job's state in one line: status, attempt, progress and its message."""
    parts = [job.status.value, f"attempt {job.attempt}/{job.max_attempts}"]
    if job.progress is not None:
        parts.append(f"{job.progress:.0%}")
    if job.progress_message:
        parts.append(job.progress_message)
    return f"{job.id} " + " · ".join(parts)


@contextlib.contextmanager
def _waiting(job: Job) -> Iterator[Callable[[Job], None]]:
    """On a terminal, a spinner whose text follows the job; elsewhere, a line per change."""
    if not sys.stderr.isatty():
        yield lambda current: click.echo(describe_progress(current), err=True)
        return
    console = Console(stderr=True)
    last = [job]

    def follow(current: Job) -> None:
        last[0] = current
        spinner.update(Text(describe_progress(current)))  # Text: a message is never markup

    with console.status(Text(describe_progress(job))) as spinner:
        yield follow
    console.print(Text(describe_progress(last[0])))  # the spinner goes; its last word stays


def _payload(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    if text == "-":
        text = sys.stdin.read()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"PAYLOAD is not valid JSON: {exc}", EXIT_USAGE)
    if not isinstance(value, dict):
        fail(f"PAYLOAD must be a JSON object, not {type(value).__name__}", EXIT_USAGE)
    return value


@cli.command()
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
@click.option("--wait-timeout", type=float, help="With --wait: give up after S seconds (exit 1).")
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
@store_options
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
        sys.exit(_guard(enqueue_file(_open(flags), from_file, as_json=as_json)))
    if job_type is None:
        fail("give a job TYPE (or --from-file FILE)", EXIT_USAGE)
    body = _payload(payload)
    jq = _open(flags)

    async def go() -> int:
        async with jq:
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
                with _waiting(job) as on_change:
                    job = await jq.wait(job.id, timeout=wait_timeout, on_change=on_change)
            except TimeoutError:
                current = await jq.get(job.id)
                fail(f"job {job.id} is still {current.status.value} after {wait_timeout} s")
            if as_json:
                echo_json(job_json(job))
            elif job.status is JobState.SUCCEEDED:
                click.echo(json.dumps(job.result, ensure_ascii=False))
            else:
                error = job.last_error
                detail = "" if error is None else f": {error.type}: {error.message}"
                click.echo(f"job {job.id} {job.status.value}{detail}", err=True)
            return 0 if job.status is JobState.SUCCEEDED else EXIT_FAILURE

    sys.exit(_guard(go()))


@cli.group()
def jobs() -> None:
    """List, show, cancel and retry jobs."""


@jobs.command("list")
@click.option("--status", type=click.Choice([s.value for s in JobState]), help="Only this status.")
@click.option("--type", "job_type", help="Only this type.")
@click.option("--queue", help="Only this queue.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--cursor", help="Continue after this job id (printed under a full page).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
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
    jq = _open(flags)

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

    sys.exit(_guard(go()))


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
def jobs_show(job_id: str, as_json: bool, **flags: Any) -> None:
    """One job with its attempts."""
    jq = _open(flags)

    async def go() -> int:
        async with jq:
            job = await jq.get(job_id)
            attempts = await jq.attempts(job.id)
        if as_json:
            echo_json({**job_json(job), "attempts": attempts_json(attempts)})
        else:
            job_detail(job, attempts)
        return 0

    sys.exit(_guard(go()))


def _change(action: str) -> Any:
    @click.argument("job_id")
    @click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
    @store_options
    def command(job_id: str, as_json: bool, **flags: Any) -> None:
        jq = _open(flags)

        async def go() -> int:
            async with jq:
                job = await (jq.cancel(job_id) if action == "cancel" else jq.retry(job_id))
            if as_json:
                echo_json(job_json(job))
            else:
                click.echo(f"{job.id} {job.status.value}")
            return 0

        sys.exit(_guard(go()))

    return command


jobs.command("cancel", help="Cancel a pending or failed job.")(_change("cancel"))
jobs.command("retry", help="Run a dead or cancelled job again.")(_change("retry"))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
def stats(as_json: bool, **flags: Any) -> None:
    """Jobs by queue and status."""
    jq = _open(flags)

    async def go() -> int:
        async with jq:
            by_queue = counts_by_queue(await jq.counts())
        if as_json:
            echo_json(by_queue)
        else:
            states = [s.value for s in JobState]
            table(
                ("QUEUE", *(s.upper() for s in states)),
                [(queue, *(row[s] for s in states)) for queue, row in sorted(by_queue.items())],
            )
        return 0

    sys.exit(_guard(go()))


@cli.command()
@click.option(
    "--interval", type=click.FloatRange(0.2, 60), default=1.0, show_default=True,
    help="Seconds between refreshes.",
)  # fmt: skip
@click.option("--once", is_flag=True, help="Print one picture and exit (for scripts, logs).")
@store_options
def top(interval: float, once: bool, **flags: Any) -> None:
    """A live view of queues, worker processes and throughput (Ctrl-C to leave)."""
    jq = _open(flags)
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
        sys.exit(_guard(go()))
    except KeyboardInterrupt:
        sys.exit(0)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@setting_option("host", "Address to bind.", metavar="HOST")
@setting_option("port", "Port to bind.", metavar="PORT")
@setting_option("metrics_port", "Port for /metrics alone.", metavar="PORT")
@setting_option("allowed_hosts", "Host names clients use.", metavar="H1,H2")
@pool_options
@store_options
def config(as_json: bool, **flags: Any) -> None:
    """Print the effective settings and where each came from."""
    loaded = settings_from(flags)
    values = loaded.settings.model_dump(mode="json")
    values["database_url"] = redact(values["database_url"])
    if as_json:
        echo_json(
            {name: {"value": values[name], "source": loaded.sources[name]} for name in FIELDS}
        )
        return
    table(
        ("SETTING", "VALUE", "SOURCE", "ENV", "FLAG"),
        [
            (
                name,
                json.dumps(values[name]),
                loaded.sources[name],
                "/".join(ENV_NAMES[name]),
                FLAG_NAMES.get(name, "-"),
            )
            for name in FIELDS
        ],
    )


@cli.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if the schema is behind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@store_options
def migrate(check: bool, as_json: bool, **flags: Any) -> None:
    """Bring the database schema up to date (serve and worker also do this at start-up).

    With --check, only report: exit 0 if the schema is current, 1 if it is behind.
    """
    loaded = settings_from(flags, one_shot=True)
    settings = loaded.settings

    async def go() -> int:
        status = await (schema_status if check else run_migrations)(
            settings.database_url, postgres=settings.postgres_options()
        )
        if as_json:
            echo_json(
                {
                    "store": status.store,
                    "current": status.current,
                    "latest": status.latest,
                    "behind": status.behind,
                }
            )
        elif status.behind:
            click.echo(
                f"schema is behind: version {status.current}, this jobq has {status.latest}; "
                f"run `jobq migrate`"
            )
        else:
            verb = "is" if check else "now"
            click.echo(f"schema {verb} current: version {status.current} ({status.store})")
        return EXIT_FAILURE if status.behind else 0

    sys.exit(_guard(go()))


def _guard(coro: Any) -> int:
    """Run a command's coroutine; known failures become a message and exit status 1."""
    try:
        status: int = run(coro)
    except JobqError as exc:  # an unknown id, a refused state change, a store error
        fail(str(exc))
    return status


cli.add_command(tokens)


def main() -> None:
    cli(prog_name="jobq")


__all__ = ["cli", "main"]
