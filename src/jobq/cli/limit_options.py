"""The options that say a limit, shared by ``jobq types limit`` and ``jobq queues limit``:
``--concurrency N [--by FIELD]``, ``--rate N/PERIOD [--rate-by FIELD]``, or ``--none``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from jobq.cli.common import with_queue
from jobq.domain.limits import Limit, Limits, LimitScope, Rate, check_field, parse_rate
from jobq.jobqueue import JobQueue

F = TypeVar("F", bound=Callable[..., Any])


def _rate(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[int, float] | None:
    """``100/60s``, ``10/s``, ``5000/1h`` -> (count, seconds)."""
    if value is None:
        return None
    try:
        return parse_rate(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _field(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_field(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def limit_options(command: F) -> F:
    """The limit's options, in the order ``--help`` lists them."""
    for option in reversed(
        (
            click.option(
                "--concurrency", type=int, metavar="N", help="At most N jobs running at once."
            ),
            click.option(
                "--by",
                callback=_field,
                metavar="FIELD",
                help="Count --concurrency per value of this payload field (one per customer_id).",
            ),
            click.option(
                "--rate",
                callback=_rate,
                metavar="N/PERIOD",
                help="At most N jobs starting per period: 100/60s, 10/s, 5000/1h.",
            ),
            click.option(
                "--rate-by", callback=_field, metavar="FIELD", help="Count --rate per value."
            ),
            click.option(
                "--none",
                "unlimited",
                is_flag=True,
                help="No limit, whatever the app's code declares (until unlimit).",
            ),
        )
    ):
        command = option(command)
    return command


def limits_from(flags: dict[str, Any]) -> Limits:
    """The limits the options say (taken out of ``flags``); ``click.UsageError`` when they say
    nothing or contradict each other."""
    concurrency: int | None = flags.pop("concurrency")
    by: str | None = flags.pop("by")
    rate: tuple[int, float] | None = flags.pop("rate")
    rate_by: str | None = flags.pop("rate_by")
    unlimited: bool = flags.pop("unlimited")
    if unlimited and (concurrency is not None or rate is not None):
        raise click.UsageError("--none goes alone, without --concurrency or --rate")
    if by is not None and concurrency is None:
        raise click.UsageError("--by counts --concurrency per value: give --concurrency too")
    if rate_by is not None and rate is None:
        raise click.UsageError("--rate-by counts --rate per value: give --rate too")
    if not unlimited and concurrency is None and rate is None:
        raise click.UsageError("say a limit: --concurrency N, --rate N/PERIOD, or --none")
    try:
        return Limits(
            None if concurrency is None else Limit(concurrency, by),
            None if rate is None else Rate(rate[0], rate[1], rate_by),
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def set_limit(scope: LimitScope, name: str, flags: dict[str, Any]) -> int:
    """``jobq types|queues limit NAME``: set the limit the options in ``flags`` say."""
    limits = limits_from(flags)

    async def go(jq: JobQueue) -> int:
        held = await jq.limits.set(scope, name, concurrency=limits.concurrency, rate=limits.rate)
        if held.effective:
            click.echo(f"limited {scope.value} {name!r}: {held.effective.describe()}")
        else:
            click.echo(f"{scope.value} {name!r}: no limit, whatever the code declares")
        return 0

    return with_queue(flags, go)


def clear_limit(scope: LimitScope, name: str, flags: dict[str, Any]) -> int:
    """``jobq types|queues unlimit NAME``: drop the limit set at run time."""

    async def go(jq: JobQueue) -> int:
        if await jq.limits.clear(scope, name):
            held = await jq.limits.of(scope, name)
            click.echo(f"{scope.value} {name!r}: {held.effective.describe()} now")
        else:
            click.echo(f"{scope.value} {name!r} had no limit set at run time")
        return 0

    return with_queue(flags, go)
