"""``jobq serve`` and ``jobq worker``: the long-running processes (``service.py`` runs them)."""

from __future__ import annotations

import sys
from typing import Any

import click

from jobq.cli.common import (
    app_schedules,
    fail,
    load_registry,
    pool_options,
    run,
    setting_option,
    settings_from,
    store_options,
)
from jobq.cli.exits import EXIT_USAGE
from jobq.config import LoadedSettings, check_postgres_settings
from jobq.domain.errors import ConfigError
from jobq.service import run_service

#: the flag both serving commands take
INSECURE = setting_option(
    "insecure",
    "Serve beyond loopback with no API token (only behind a proxy that authenticates).",
    is_flag=True,
    flag_value="true",
)


@click.command()
@setting_option("host", "Address to bind (default 127.0.0.1).", metavar="HOST")
@setting_option("port", "Port to bind (default 8080; 0: any free port).", metavar="PORT")
@setting_option("metrics_port", "Also serve /metrics alone on this port (0: any).", metavar="PORT")
@setting_option(
    "allowed_hosts",
    "Host names clients use (default on loopback: localhost, 127.0.0.1, ::1).",
    metavar="H1,H2",
)
@INSECURE
@pool_options
@store_options
def serve(**flags: Any) -> None:
    """Run the HTTP API and a worker pool in one process (--workers 0: the API alone)."""
    loaded = settings_from(flags)
    _check_postgres(loaded)
    registry = load_registry(loaded, serves_api=True)
    schedules = app_schedules(loaded)
    sys.exit(run(run_service(loaded.settings, registry, http=True, schedules=schedules)))


@click.command()
@setting_option("host", "Address for --metrics-port (default 127.0.0.1).", metavar="HOST")
@setting_option(
    "metrics_port", "Serve /metrics, /health and /ready on this port (0: any).", metavar="PORT"
)
@setting_option("allowed_hosts", "Host names clients use for --metrics-port.", metavar="H1,H2")
@INSECURE
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
    _check_postgres(loaded)
    registry = load_registry(loaded)
    schedules = app_schedules(loaded)
    sys.exit(run(run_service(loaded.settings, registry, http=False, schedules=schedules)))


def _check_postgres(loaded: LoadedSettings) -> None:
    """Before anything starts: how a pool here would hear of new jobs can work (exit 2)."""
    try:
        check_postgres_settings(loaded)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
