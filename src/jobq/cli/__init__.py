"""The ``jobq`` command: the group, its version, and the commands of each module. Each command
parses, builds the settings, and calls one function.

Exit status: 0 done; 1 failed (a job that ended badly with --wait, an unknown id, a refused
state change, a store error); 2 a bad flag, setting or argument; 3 ``enqueue --wait``'s
``--wait-timeout`` ran out.
"""

from __future__ import annotations

import click

from jobq import __version__
from jobq.cli import admin, enqueue, jobs, run, stats, tokens


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
    cli(prog_name="jobq")


__all__ = ["cli", "main"]
