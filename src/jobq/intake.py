"""A job as a caller asks for it, checked before anything is stored: its names, its type (known
to this process, unless unknown types are accepted), its options and their ranges, with the
type's defaults filled in. The Python API, the HTTP API and the CLI all submit through here.
The payload is checked as the store encodes it (``jsonvalues.dumps``: plain JSON, its depth,
valid Unicode), which costs no second pass over it."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from jobq.clock import Clock
from jobq.domain.errors import InvalidJob, UnknownJobType
from jobq.domain.ids import JobId, parse_job_id
from jobq.domain.job import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_QUEUE,
    MAX_ATTEMPTS_LIMIT,
    MAX_DELAY,
    MAX_IDEMPOTENCY_KEY,
    PRIORITY_MAX,
    PRIORITY_MIN,
    Backoff,
    JSONValue,
    NewJob,
)
from jobq.domain.jsonvalues import is_unicode, not_unicode
from jobq.domain.unique import Unique, unique_fields
from jobq.domain.workflows import MAX_DEPENDENCIES, DependencyFailure
from jobq.names import check_name, did_you_mean
from jobq.registry import Registry
from jobq.schemas import Shape, ShapeMismatch

#: ``(type, payload)`` -> the payload as it is to be stored, or ``InvalidJob`` naming its faults
PayloadCheck = Callable[[str, Mapping[str, JSONValue]], Mapping[str, JSONValue]]


def checked_payload(shape: Shape, payload: Mapping[str, JSONValue]) -> dict[str, JSONValue]:
    """``payload`` held to ``shape``: as stored (defaults filled in), or ``InvalidJob``."""
    try:
        checked = shape.check(payload)
    except ShapeMismatch as exc:
        raise InvalidJob(
            f"payload does not fit its type's schema: {exc}", problems=exc.problems
        ) from None
    if not isinstance(checked, dict):  # a schema that allows more than objects
        raise InvalidJob(f"payload must be a JSON object, not {checked.__class__.__name__}")
    return checked


def check_new_job(
    type: str,
    payload: Mapping[str, JSONValue] | None,
    *,
    registry: Registry,
    clock: Clock,
    accept_unknown_types: bool,
    queue: str = DEFAULT_QUEUE,
    priority: int = 0,
    delay: float | None = None,
    run_at: datetime | None = None,
    max_attempts: int | None = None,
    timeout: float | None = None,
    backoff: Backoff | None = None,
    idempotency_key: str | None = None,
    unique: Unique | None = None,
    check_payload: PayloadCheck | None = None,
    depends_on: Sequence[str] = (),
    on_dependency_failure: str = DependencyFailure.CANCEL.value,
) -> NewJob:
    """``type`` and ``payload`` with the options, checked, defaults filled in from the type
    (``registry``) or jobq's; ``InvalidJob`` or ``UnknownJobType`` says what is wrong.
    ``check_payload``: holds the payload to its type's schema (default: the schema of the type
    in ``registry``, if it has one), returning it with the schema's defaults filled in."""
    try:
        check_name(type, what="job type")
        check_name(queue, what="queue")
    except ValueError as exc:
        raise InvalidJob(str(exc)) from exc
    job_type = registry.get(type)
    if job_type is None and not accept_unknown_types:
        known = ", ".join(registry.names())
        raise UnknownJobType(
            f"unknown job type {type!r}{did_you_mean(type, registry.names())}; "
            f"this process knows: {known}"
        )
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        raise InvalidJob(f"payload must be a JSON object, not {payload.__class__.__name__}")
    if check_payload is not None:
        payload = check_payload(type, payload)
    elif job_type is not None and job_type.payload is not None:
        payload = checked_payload(job_type.payload, payload)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidJob(f"priority must be an integer, not {priority!r}")
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidJob(f"priority must be {PRIORITY_MIN}..{PRIORITY_MAX}, not {priority}")
    if delay is not None and run_at is not None:
        raise InvalidJob("give delay or run_at, not both")
    if delay is not None:
        if not (math.isfinite(delay) and 0 <= delay <= MAX_DELAY):
            raise InvalidJob(f"delay must be 0..{MAX_DELAY:.0f} seconds, not {delay}")
        run_at = clock.now() + timedelta(seconds=delay)
    if run_at is not None:
        if run_at.tzinfo is None:
            raise InvalidJob("run_at must carry a timezone (e.g. 2030-01-01T00:00:00Z)")
        try:
            run_at = run_at.astimezone(UTC)
        except OverflowError:
            raise InvalidJob(f"run_at {run_at.isoformat()} is out of range") from None
    if max_attempts is None:
        max_attempts = job_type.max_attempts if job_type else DEFAULT_MAX_ATTEMPTS
    if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
        raise InvalidJob(f"max_attempts must be 1..{MAX_ATTEMPTS_LIMIT}, not {max_attempts}")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InvalidJob(f"timeout must be a positive number of seconds, not {timeout}")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidJob(f"idempotency_key must be 1..{MAX_IDEMPOTENCY_KEY} characters")
    if idempotency_key is not None and "\x00" in idempotency_key:
        raise InvalidJob("idempotency_key must not contain NUL characters")
    if idempotency_key is not None and not is_unicode(idempotency_key):
        raise InvalidJob(not_unicode("idempotency_key"))
    parents = _dependencies(depends_on, on_dependency_failure)
    if parents and (idempotency_key is not None or unique is not None):
        raise InvalidJob(
            "a job with depends_on can have no idempotency_key and cannot be unique (yet)"
        )
    unique_key = unique_states = None
    if unique is not None:
        unique_key, unique_states = unique_fields(unique, type, payload, clock.now())
    return NewJob(
        type=type,
        payload=dict(payload),
        queue=queue,
        priority=priority,
        run_at=run_at,
        max_attempts=max_attempts,
        timeout=timeout,
        backoff=backoff,
        idempotency_key=idempotency_key,
        unique_key=unique_key,
        unique_states=unique_states,
        unique_replace=unique is not None and unique.on_conflict == "replace",
        depends_on=parents,
        on_dependency_failure=on_dependency_failure,
    )


def _dependencies(depends_on: Sequence[str], policy: str) -> tuple[JobId, ...]:
    """``depends_on`` checked: job ids (UUIDs), each once, at most ``MAX_DEPENDENCIES``."""
    if isinstance(depends_on, str):
        raise InvalidJob("depends_on must be a list of job ids, not a string")
    if policy not in DependencyFailure.__members__.values():
        choices = ", ".join(repr(p.value) for p in DependencyFailure)
        raise InvalidJob(f"on_dependency_failure must be {choices}, not {policy!r}")
    if len(depends_on) > MAX_DEPENDENCIES:
        raise InvalidJob(f"depends_on holds at most {MAX_DEPENDENCIES:,} job ids")
    parents: dict[JobId, None] = {}
    for given in depends_on:
        try:
            parents[parse_job_id(given)] = None
        except (ValueError, TypeError, AttributeError):
            raise InvalidJob(f"depends_on: {given!r} is not a job id") from None
    return tuple(parents)
