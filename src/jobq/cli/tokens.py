"""``jobq tokens create|list|revoke``: the API tokens of the store the settings name.

A new token is printed once, on the last line of ``create``'s output; the store keeps only a
hash of it. Revoking is final and takes effect in every process within a few seconds.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import click

from jobq.cli.common import database_options, fail, guard, settings_from
from jobq.cli.exits import EXIT_FAILURE
from jobq.cli.output import echo_json, table
from jobq.clock import SystemClock
from jobq.domain.tokens import MAX_TOKEN_NAME, ApiToken, Scope, new_token
from jobq.jobqueue import JobQueue
from jobq.store.ports import Tokens

SCOPES = [scope.value for scope in Scope]


@click.group()
def tokens() -> None:
    """API tokens: once one exists, every route but /health needs one."""


@tokens.command()
@click.option(
    "--scope", type=click.Choice(SCOPES), required=True,
    help="read: see jobs, stats, metrics, the dashboard; enqueue: and submit jobs; "
    "admin: and cancel and retry.",
)  # fmt: skip
@click.option("--name", default="", help="What the token is for (shown by `list`).")
@database_options
def create(scope: str, name: str, **flags: Any) -> None:
    """Make a token and print it (once: it is not stored, only its hash)."""
    name = name.strip() or f"{scope} token"
    if len(name) > MAX_TOKEN_NAME or not name.isprintable():
        fail(f"--name must be 1-{MAX_TOKEN_NAME} printable characters", 2)

    async def go(store: Tokens) -> int:
        token, text = new_token(Scope(scope), name, SystemClock().now())
        await store.add(token)
        click.echo(f"created token {token.id} ({token.scope.value}) {token.name!r}", err=True)
        click.echo("it is shown this once; keep it in a secret store", err=True)
        click.echo(text)
        return 0

    sys.exit(_with_tokens(flags, go))


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@database_options
def list_tokens(as_json: bool, **flags: Any) -> None:
    """Every token (never the secrets), newest first."""

    async def go(store: Tokens) -> int:
        found = await store.all()
        if as_json:
            echo_json([_as_json(token) for token in found])
        else:
            table(
                ("ID", "SCOPE", "NAME", "CREATED", "REVOKED"),
                [
                    (
                        token.id,
                        token.scope.value,
                        token.name,
                        token.created_at.isoformat(timespec="seconds"),
                        "-"
                        if token.revoked_at is None
                        else token.revoked_at.isoformat(timespec="seconds"),
                    )
                    for token in found
                ],
            )
        return 0

    sys.exit(_with_tokens(flags, go))


@tokens.command()
@click.argument("token_id")
@database_options
def revoke(token_id: str, **flags: Any) -> None:
    """Revoke the token with this id (the part after jobq_, before the next _)."""

    # the id, also when the whole token was given: its secret is never echoed
    wanted = token_id.removeprefix("jobq_").split("_", 1)[0]

    async def go(store: Tokens) -> int:
        if not await store.revoke(wanted):
            click.echo(f"no active token has the id {wanted!r}", err=True)
            return EXIT_FAILURE
        click.echo(f"revoked {wanted}")
        return 0

    sys.exit(_with_tokens(flags, go))


def _as_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "scope": token.scope.value,
        "name": token.name,
        "created_at": token.created_at.isoformat(),
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat(),
    }


def _with_tokens(flags: dict[str, Any], action: Callable[[Tokens], Awaitable[int]]) -> int:
    """Run ``action`` on the tokens of the store the settings name; exit 1 on a store error."""
    settings = settings_from(flags, one_shot=True).settings
    jq = JobQueue(settings.database_url, builtins=False, postgres=settings.postgres_options())

    async def go() -> int:
        async with jq:
            return await action(jq.tokens)

    return guard(go())
