"""``/types``: the job types with their waiting and running jobs and their limits; limiting a
type at run time (admin tokens). A limit holds for every process on the store: no claim takes
a job of the type past its concurrency limit or its rate (``domain/limits.py``); the one set
here wins over the code's until it is deleted."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from jobq.api.ops import jobqueue_of
from jobq.domain.errors import JobTypeNotFound
from jobq.domain.limits import (
    FIELD_RULE,
    MAX_COUNT,
    MAX_PERIOD,
    MIN_PERIOD,
    Limit,
    Limits,
    LimitScope,
    Rate,
    ScopeLimits,
)
from jobq.insights import TypeInfo, type_document
from jobq.wire import NAME, ErrorBody, JobTypeName, _Strict

router = APIRouter()

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "an API token is needed (once any exists), or the one given is not valid"),
        (403, "the token's scope may not do this (a limit needs an admin token)"),
        (422, "the name or the limit is not allowed; `details` names what"),
        (503, "the store is unavailable; try again after Retry-After seconds"),
    )
}

NOT_FOUND: dict[str, Any] = {
    "model": ErrorBody,
    "description": "no process knows the type, and it has no jobs or limit",
}

PathType = Annotated[JobTypeName, Path(description="the job type", json_schema_extra=NAME)]
FIELD_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class ConcurrencyIn(_Strict):
    count: int = Field(ge=1, le=MAX_COUNT, description="jobs running at once, at most")
    by: str | None = Field(
        None, pattern=FIELD_PATTERN, description=f"count per value of {FIELD_RULE}"
    )


class RateIn(_Strict):
    count: int = Field(ge=1, le=MAX_COUNT, description="jobs starting per period, at most")
    per: float = Field(
        ge=MIN_PERIOD,
        le=MAX_PERIOD,
        description="the period in seconds (fixed windows from multiples of it since 1970)",
    )
    by: str | None = Field(
        None, pattern=FIELD_PATTERN, description=f"count per value of {FIELD_RULE}"
    )


class LimitIn(_Strict):
    """A run-time limit; both null: no limit, whatever the code declares."""

    concurrency: ConcurrencyIn | None = None
    rate: RateIn | None = None

    def limits(self) -> Limits:
        concurrency, rate = self.concurrency, self.rate
        return Limits(
            None if concurrency is None else Limit(concurrency.count, concurrency.by),
            None if rate is None else Rate(rate.count, rate.per, rate.by),
        )


class ConcurrencyOut(BaseModel):
    count: int
    by: str | None


class RateOut(BaseModel):
    count: int
    per: float
    by: str | None


class LimitsOut(BaseModel):
    concurrency: ConcurrencyOut | None = Field(description="the concurrency limit that holds")
    rate: RateOut | None = Field(description="the rate that holds")
    origin: str | None = Field(
        description="where they come from: code, set (at run time), or null: no limit"
    )
    code: dict[str, Any] | None = Field(description="the limits the app's code declares")
    set: dict[str, Any] | None = Field(
        description="the limits set at run time (they win over the code's)"
    )


def limits_out(held: ScopeLimits | None) -> LimitsOut | None:
    return None if held is None else LimitsOut.model_validate(held.to_dict())


class TypeOut(BaseModel):
    name: str
    waiting: int = Field(description="due jobs waiting for a worker, every queue")
    running: int = Field(description="jobs claimed and not yet ended, every queue")
    handled: bool = Field(description="the serving process has a handler for the type")
    limit: LimitsOut | None = Field(description="its limits; null: none")
    payload_schema: dict[str, Any] | None = Field(
        None,
        description="the JSON Schema its payload must fit (checked at submit); null: any "
        "JSON object, or no process that knows the type is live",
    )
    result_schema: dict[str, Any] | None = Field(
        None, description="the JSON Schema of its handler's result; null: any JSON value"
    )
    options: dict[str, Any] | None = Field(
        None,
        description="how it runs: max_attempts, timeout (s), backoff, limits, retain, secret "
        "(payload fields never shown) and schedules declared in code",
    )
    processes: list[str] = Field(
        default_factory=list, description="the live worker processes (pool ids) that run it"
    )
    warnings: list[str] = Field(
        default_factory=list,
        description="what is off: live processes that publish different payload schemas",
    )


class TypeListOut(BaseModel):
    types: list[TypeOut]


class UnlimitedTypeOut(TypeOut):
    cleared: bool = Field(description="false: no limit was set at run time; nothing changed")


def type_out(info: TypeInfo) -> TypeOut:
    return TypeOut.model_validate(type_document(info))


@router.get("/types", response_model=TypeListOut, responses=ERRORS)
async def list_types(request: Request) -> TypeListOut:
    """Every job type that has jobs waiting or running, a limit, or a handler in the serving
    process, by name."""
    return TypeListOut(types=[type_out(info) for info in await jobqueue_of(request).types()])


@router.get("/types/{name}", response_model=TypeOut, responses={**ERRORS, 404: NOT_FOUND})
async def get_type(name: PathType, request: Request) -> TypeOut:
    """One job type: its payload and result schemas, its options, the live worker processes
    that run it, its waiting and running jobs, its limits and warnings. 404 if no process
    knows it and it has no jobs or limit."""
    jq = jobqueue_of(request)
    found = next((info for info in await jq.types() if info.name == name), None)
    if found is None:
        raise JobTypeNotFound(f"no job type {name!r}: no live process runs it, and it has no jobs")
    return type_out(found)


@router.put("/types/{name}/limit", response_model=TypeOut, responses=ERRORS)
async def limit_type(name: PathType, body: LimitIn, request: Request) -> TypeOut:
    """Limit the type's jobs across the fleet: how many run at once, how many start per
    period. This wins over the code's limit until deleted."""
    jq = jobqueue_of(request)
    limits = body.limits()
    await jq.limits.set(LimitScope.TYPE, name, concurrency=limits.concurrency, rate=limits.rate)
    return type_out(await jq.job_type(name))


@router.delete("/types/{name}/limit", response_model=UnlimitedTypeOut, responses=ERRORS)
async def unlimit_type(name: PathType, request: Request) -> UnlimitedTypeOut:
    """Delete the limit set at run time: the code's limit (if any) holds again."""
    jq = jobqueue_of(request)
    cleared = await jq.limits.clear(LimitScope.TYPE, name)
    return UnlimitedTypeOut(**type_out(await jq.job_type(name)).model_dump(), cleared=cleared)
