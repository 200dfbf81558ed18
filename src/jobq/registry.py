"""Job types: a name, the handler that runs it, and how it may fail."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from jobq.domain.job import DEFAULT_MAX_ATTEMPTS, MAX_ATTEMPTS_LIMIT, Backoff
from jobq.domain.limits import Limit, Limits, Rate, limits_of
from jobq.domain.published import TypeSpec
from jobq.domain.retention import Retain
from jobq.names import check_name
from jobq.schemas import Shape, shapes_of
from jobq.typed import Enqueuing, JobDecorator, TypedJob

DEFAULT_TIMEOUT = 300.0  # seconds

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobType:
    name: str
    handler: Handler
    is_async: bool
    #: the handler takes ``(payload, ctx)`` rather than ``(payload)``
    takes_context: bool
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    #: seconds one attempt may run; None: no limit
    timeout: float | None = DEFAULT_TIMEOUT
    backoff: Backoff = field(default_factory=Backoff)
    #: exceptions that make the job dead at once, besides ``NonRetryableError``
    non_retryable: tuple[type[BaseException], ...] = ()
    #: payload fields whose values are kept out of the API, the dashboard and error text
    secret: frozenset[str] = frozenset()
    #: the type's own retention once finished; None: the process's settings
    retain: Retain | None = None
    #: how many of its jobs may run at once, and start per period, across the fleet
    limits: Limits = field(default_factory=Limits)
    #: what its payload must look like (checked at submit); None: any JSON object
    payload: Shape | None = None
    #: what its handler's result must look like; None: any JSON value
    result: Shape | None = None


def _positional_count(handler: Handler) -> int:
    params = inspect.signature(handler).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    return sum(
        p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        for p in params
    )


def _is_async(handler: Handler) -> bool:
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects count too
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)


def make_job_type(
    name: str,
    handler: Handler,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    timeout: float | None = DEFAULT_TIMEOUT,
    backoff: Backoff | None = None,
    non_retryable: tuple[type[BaseException], ...] = (),
    secret: Collection[str] = (),
    retain: Retain | None = None,
    concurrency: Limit | int | None = None,
    rate: Rate | None = None,
    payload_schema: Mapping[str, Any] | None = None,
    result_schema: Mapping[str, Any] | None = None,
) -> JobType:
    """Check the options and the handler's shape; raise ``ValueError`` or ``TypeError``."""
    check_name(name, what="job type")
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise ValueError(f"max_attempts must be 1..{MAX_ATTEMPTS_LIMIT}, not {max_attempts}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout}")
    if not callable(handler):
        raise TypeError(f"the handler for {name!r} is not callable")
    if retain is not None and not isinstance(retain, Retain):
        raise TypeError(f"retain must be a Retain (jobq.Retain), not {type(retain).__name__}")
    limits = limits_of(concurrency, rate)
    count = _positional_count(handler)
    if count not in (1, 2):
        raise TypeError(
            f"the handler for {name!r} must take (payload) or (payload, ctx); it takes {count} "
            "positional arguments"
        )
    payload, result = shapes_of(
        handler, name, payload_schema=payload_schema, result_schema=result_schema
    )
    return JobType(
        name=name,
        handler=handler,
        is_async=_is_async(handler),
        takes_context=count == 2,
        max_attempts=max_attempts,
        timeout=timeout,
        backoff=backoff or Backoff(),
        non_retryable=non_retryable,
        secret=frozenset(secret),
        retain=retain,
        limits=limits,
        payload=payload,
        result=result,
    )


def type_spec(job_type: JobType, schedules: list[dict[str, Any]] | None = None) -> TypeSpec:
    """What a process publishes about ``job_type``: its schemas and options."""
    spec: dict[str, Any] = {
        "payload_schema": job_type.payload.schema if job_type.payload else None,
        "result_schema": job_type.result.schema if job_type.result else None,
        "max_attempts": job_type.max_attempts,
        "timeout": job_type.timeout,
        "backoff": {
            "base_seconds": job_type.backoff.base_seconds,
            "max_seconds": job_type.backoff.max_seconds,
        },
        "limits": job_type.limits.to_dict() if job_type.limits else None,
        "retain": (
            {state.value: keep for state, keep in job_type.retain.times.items()}
            if job_type.retain is not None
            else None
        ),
        "secret": sorted(job_type.secret),
        "schedules": schedules or [],
    }
    return TypeSpec(
        name=job_type.name,
        spec=spec,
        payload_digest=job_type.payload.digest if job_type.payload else None,
    )


class Registry:
    """Handlers by job type."""

    def __init__(self) -> None:
        self._types: dict[str, JobType] = {}

    def add(self, job_type: JobType) -> None:
        if job_type.name in self._types:
            raise ValueError(f"a handler for job type {job_type.name!r} is registered already")
        self._types[job_type.name] = job_type

    def job(
        self, name: str | None = None, *, queue: Enqueuing | None = None, **options: Any
    ) -> JobDecorator:
        """Decorator: register the function as the handler of ``name`` (default: its name);
        it becomes a ``TypedJob`` (still callable) that enqueues through ``queue``."""

        def register(handler: Handler) -> TypedJob[Any, Any]:
            type_name = name or getattr(handler, "__name__", None)
            if not type_name:
                raise TypeError(f"give the job type a name: {handler!r} has no __name__")
            job_type = make_job_type(type_name, handler, **options)
            self.add(job_type)
            return TypedJob(job_type, queue)

        return cast(JobDecorator, register)

    def get(self, name: str) -> JobType | None:
        return self._types.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[JobType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def names(self) -> list[str]:
        return sorted(self._types)

    def limits(self) -> dict[str, Limits]:
        """The limits the types declare in code, by type (those that declare one)."""
        return {t.name: t.limits for t in self if t.limits}

    def specs(self, schedules: Mapping[str, list[dict[str, Any]]] | None = None) -> list[TypeSpec]:
        """What a worker process publishes about its types (``schedules``: by type)."""
        return [type_spec(t, (schedules or {}).get(t.name)) for t in self]

    def include(self, other: Registry) -> None:
        """Add every type of ``other``; a name registered in both is an error."""
        for job_type in other:
            self.add(job_type)
