"""The options that say a limit, shared by ``jobq types limit`` and ``jobq queues limit``:
``--concurrency N [--by FIELD]``, ``--rate N/PERIOD [--rate-by FIELD]``, or ``--none``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from jobq.domain.limits import Limit, Limits, Rate, check_field, parse_rate

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


def limits_from(
    concurrency: int | None,
    by: str | None,
    rate: tuple[int, float] | None,
    rate_by: str | None,
    unlimited: bool,
) -> Limits:
    """The limits the options say; ``click.UsageError`` when they say nothing or contradict."""
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
