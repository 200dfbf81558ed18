"""The ``jobq`` command: the group, its version, and the commands of each module. Each command
parses, builds the settings, and calls one function.

Exit status: 0 done; 1 failed (a job that ended badly with --wait, an unknown id, a refused
state change, a store error); 2 a bad flag, setting or argument; 3 ``enqueue --wait``'s
``--wait-timeout`` ran out.
"""

from __future__ import annotations

import sys

import click

from jobq import __version__
from jobq.cli import admin, enqueue, jobs, run, stats, tokens
from jobq.cli.common import EXIT_FAILURE, EXIT_USAGE
from jobq.logs import silence


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="jobq")
def cli() -> None:
    """jobq: a durable background-job queue.

    Settings come from flags, then JOBQ_* environment variables, then defaults;
    `jobq config` shows the result and where each value came from.
    """


cli.add_command(run.serve)
cli.add_command(run.worker)
cli.add_command(enqueue.enqueue)
cli.add_command(jobs.jobs)
cli.add_command(stats.stats)
cli.add_command(stats.top)
cli.add_command(admin.config)
cli.add_command(admin.migrate)
cli.add_command(tokens.tokens)


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
