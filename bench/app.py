"""The handlers the benchmarks run, loaded by worker processes as ``--app bench.app:registry``.

- ``noop``: returns at once (W1, W4, W5);
- ``sleep.async`` / ``sleep.thread``: ``asyncio.sleep`` / ``time.sleep`` for ``seconds`` (W2);
- ``stamp``: returns the wall-clock time its handler started, so the benchmark can read
  enqueue -> start latency from the job's result (W3);
- ``plain10`` / ``typed10`` / ``schema10``: a payload of ten fields taken as a dict, as a
  pydantic model, and as a dict with a JSON Schema (W12: what checking it at submit costs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from jobq.registry import Registry

registry = Registry()

#: in a process that runs ``stamp`` jobs itself, told each start time (W3 in process), so the
#: benchmark need not poll the store on the loop that runs the pool
on_stamp: Callable[[float], None] | None = None


@registry.job("noop", max_attempts=1)
async def noop(payload: dict[str, Any]) -> None:
    return None


@registry.job("sleep.async", max_attempts=1)
async def sleep_async(payload: dict[str, Any]) -> None:
    await asyncio.sleep(float(payload["seconds"]))


@registry.job("sleep.thread", max_attempts=1)
def sleep_thread(payload: dict[str, Any]) -> None:
    time.sleep(float(payload["seconds"]))


@registry.job("stamp", max_attempts=1)
async def stamp(payload: dict[str, Any]) -> float:
    now = time.time()
    if on_stamp is not None:
        on_stamp(now)
    return now


# -- W12, typed jobs: one payload of ten fields, three ways ----------------------------------


class TenFields(BaseModel):
    """The payload W12 checks: ten fields of the kinds payloads hold."""

    customer: str
    order: int
    amount: float
    currency: str = "EUR"
    express: bool = False
    items: list[str]
    note: str | None = None
    attempts: int = Field(1, ge=1)
    channel: str = "web"
    tags: list[str] = Field(default_factory=list)


#: the same as a JSON Schema, for a handler that takes a dict (and for a process without code)
TEN_FIELDS_SCHEMA = TenFields.model_json_schema()


def ten_fields(n: int) -> dict[str, Any]:
    """A payload W12 sends: ten fields, four of them left to their defaults."""
    return {
        "customer": f"c{n % 97}",
        "order": n,
        "amount": 12.5,
        "express": n % 2 == 0,
        "items": ["tea", "cups"],
        "note": None,
    }


@registry.job("plain10", max_attempts=1)
async def plain10(payload: dict[str, Any]) -> None:
    return None


@registry.job("typed10", max_attempts=1)
async def typed10(payload: TenFields) -> None:
    return None


@registry.job("schema10", max_attempts=1, payload_schema=TEN_FIELDS_SCHEMA)
async def schema10(payload: dict[str, Any]) -> None:
    return None
