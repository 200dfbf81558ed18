"""Unique jobs: at most one job per key while it is in given states (and, with ``for_``, per
window of time). The store holds the key in a unique index while the job is in those states
and drops it when the job leaves them, so a second enqueue with the key gets the first job
back instead of a new one, however many arrive at once."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from jobq.domain.errors import InvalidJob
from jobq.domain.job import MAX_DELAY, MAX_IDEMPOTENCY_KEY, JSONValue
from jobq.domain.states import JobState

#: by default a job is unique until it finishes: while it waits, runs or waits to retry
DEFAULT_STATES = frozenset({JobState.PENDING, JobState.RUNNING, JobState.FAILED})


@dataclass(frozen=True, slots=True, kw_only=True)
class Unique:
    """One job per ``key`` (default: the job's type and payload) while it is in ``states``;
    with ``for_`` (seconds), one per window of that length (windows start at multiples of it
    since the epoch, as River's by-period uniqueness)."""

    key: str | None = None
    for_: float | None = None
    #: default: until the job finishes; with ``for_``, in every state (one job per window,
    #: however it ends)
    states: Collection[JobState | str] | None = None
    #: what an enqueue that meets the holder does: ``keep`` returns it as it is; ``replace``
    #: gives a holder still pending this job's payload and run time (a debounce, or a
    #: throttle with ``for_``), and returns it
    on_conflict: str = "keep"


def unique_fields(
    unique: Unique, job_type: str, payload: Mapping[str, JSONValue], now: datetime
) -> tuple[str, str]:
    """The stored unique key (a digest of the type, the key or the payload, and the window)
    and the states that hold it (comma-separated), or ``InvalidJob`` naming the field."""
    given = unique.states
    if given is None:
        given = DEFAULT_STATES if unique.for_ is None else frozenset(JobState)
    try:
        states = sorted({JobState(state).value for state in given})
    except ValueError:
        allowed = ", ".join(state.value for state in JobState)
        raise InvalidJob(f"unique.states must be some of {allowed}") from None
    if unique.on_conflict not in ("keep", "replace"):
        raise InvalidJob(f"unique.on_conflict must be keep or replace, not {unique.on_conflict!r}")
    if JobState.PENDING.value not in states:
        raise InvalidJob("unique.states must include pending: a new job is pending")
    if unique.key is not None and not 0 < len(unique.key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidJob(f"unique.key must be 1..{MAX_IDEMPOTENCY_KEY} characters")
    window = None
    if unique.for_ is not None:
        seconds = unique.for_
        if isinstance(seconds, bool) or not (math.isfinite(seconds) and 1 <= seconds <= MAX_DELAY):
            raise InvalidJob(f"unique.for must be 1..{MAX_DELAY:.0f} seconds, not {seconds}")
        window = [float(seconds), math.floor(now.timestamp() / seconds)]
    what: JSONValue = unique.key if unique.key is not None else dict(payload)
    try:
        text = json.dumps(
            [job_type, unique.key is not None, what, window],
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"payload is not JSON-serializable: {exc}") from None
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return digest, ",".join(states)
