"""The ``jobq`` command: the group, its version, and the commands of each module. Each command
parses, builds the settings, and calls one function.

Exit status: 0 done; 1 failed (a job that ended badly with --wait, an unknown id, a refused
state change, a store error); 2 a bad flag, setting or argument; 3 ``enqueue --wait``'s
``--wait-timeout`` ran out.
"""

from __future__ import annotations

import sys

import click

from jobq.cli.exits import EXIT_FAILURE, EXIT_USAGE
from jobq.cli.lazy import LazyGroup
from jobq.logs import silence

#: each command's module is imported when that command runs (or `jobq --help` lists them)
COMMANDS = {
    "serve": "jobq.cli.run:serve",
    "worker": "jobq.cli.run:worker",
    "enqueue": "jobq.cli.enqueue:enqueue",
    "jobs": "jobq.cli.jobs:jobs",
    "stats": "jobq.cli.stats:stats",
    "top": "jobq.cli.stats:top",
    "config": "jobq.cli.admin:config",
    "migrate": "jobq.cli.admin:migrate",
    "tokens": "jobq.cli.tokens:tokens",
    "schedules": "jobq.cli.schedules:schedules",
    "queues": "jobq.cli.queues:queues",
    "types": "jobq.cli.types:types",
    "workflows": "jobq.cli.workflows:workflows",
    "prune": "jobq.cli.prune:prune",
}


def _print_version(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import jobq

    click.echo(f"jobq, version {jobq.__version__}")
    ctx.exit()


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
def cli() -> None:
    """jobq: a durable background-job queue.

    Settings come from flags, then JOBQ_* environment variables, then defaults;
    `jobq config` shows the result and where each value came from.
    """


def main() -> None:
    """``jobq``: click parses; its usage errors come out as every other error does,
    ``jobq: error: ...`` and exit 2, with the command's --help to look at."""
    try:
        cli.main(prog_name="jobq", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:  # `jobq`, `jobq jobs`: the help
        click.echo(exc.ctx.get_help() if exc.ctx is not None else str(exc), err=True)
        sys.exit(EXIT_USAGE)
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "jobq"
        click.echo(f"jobq: error: {exc.format_message()} (see: {command} --help)", err=True)
        sys.exit(EXIT_USAGE)
    except click.Abort:  # Ctrl-C at a prompt
        click.echo("jobq: aborted", err=True)
        sys.exit(EXIT_FAILURE)
    except click.ClickException as exc:  # a file that cannot be opened, ...
        click.echo(f"jobq: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # the reader of the output is gone (`jobq jobs list | head -1`): stop quietly
        silence(sys.stdout)
        sys.exit(EXIT_FAILURE)


__all__ = ["cli", "main"]
