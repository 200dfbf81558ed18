"""``jobq config`` (the effective settings and where each came from) and ``jobq migrate`` (the
database schema)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from jobq.cli.common import (
    database_options,
    guard,
    pool_options,
    setting_option,
    settings_from,
    store_options,
)
from jobq.cli.exits import EXIT_FAILURE
from jobq.cli.output import echo_json, table
from jobq.config import ENV_NAMES, FIELDS, FLAG_NAMES
from jobq.store import run_migrations, schema_status
from jobq.store.url import redact


@click.command()
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
    if values["listen_url"] is not None:
        values["listen_url"] = redact(values["listen_url"])
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


@click.command()
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if the schema is behind.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
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

    sys.exit(guard(go()))
