"""Handlers for the workflow tests: ``fetch`` returns a number, ``square`` a typed result,
``merge`` sums what the jobs it waited for returned, ``boom`` always fails (dead at once)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from jobq import JobContext, JobQueue, NonRetryableError


class Squared(BaseModel):
    n: int
    square: int


class Number(BaseModel):
    n: int


def app(url: str) -> JobQueue:
    jq = JobQueue(url, builtins=False)

    @jq.job("fetch")
    async def fetch(payload: dict[str, Any]) -> int:
        return int(payload["n"])

    @jq.job("square")
    async def square(payload: Number) -> Squared:
        return Squared(n=payload.n, square=payload.n**2)

    @jq.job("merge")
    async def merge(payload: dict[str, Any], ctx: JobContext) -> dict[str, Any]:
        squares = ctx.results("square")
        assert all(isinstance(s, Squared) for s in squares), squares
        return {
            "squares": sorted(s.square for s in squares),
            "fetched": sorted(ctx.results("fetch")),
            "seen": sorted(d.status.value for d in ctx.dependencies),
        }

    @jq.job("boom", max_attempts=1)
    async def boom(payload: dict[str, Any]) -> None:
        raise NonRetryableError("boom")

    return jq
