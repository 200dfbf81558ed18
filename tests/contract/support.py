"""Small builders shared by the store contract tests (and the tests that drive a store by
hand)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from jobq.clock import FakeClock
from jobq.domain.ids import PoolId, WorkerId
from jobq.domain.job import DeadReason, ErrorInfo, Job, JSONValue, Lease, NewJob
from jobq.domain.jsonvalues import dumps
from jobq.store import ClaimRequest, Completion, Failure, Store

OWNER = PoolId("host:1:aaaaaa")
OTHER = PoolId("host:2:bbbbbb")
#: a worker of OWNER's pool, as attempts record it
WORKER = WorkerId("host:1:aaaaaa/w1")
LEASE = 30.0


def new(job_type: str = "echo", **fields: Any) -> NewJob:
    return NewJob(type=job_type, **fields)


async def add(store: Store, *jobs: NewJob) -> list[Job]:
    return [result.job for result in await store.enqueuer.enqueue(list(jobs) or [new()])]


async def claim(
    store: Store,
    owner: PoolId = OWNER,
    *,
    limit: int = 10,
    lease: float = LEASE,
    queues: Sequence[str] | None = None,
    types: Sequence[str] | None = None,
) -> list[Job]:
    request = ClaimRequest(
        owner=owner,
        limit=limit,
        lease_seconds=lease,
        queues=None if queues is None else tuple(queues),
        types=None if types is None else tuple(types),
    )
    return await store.claims.claim(request)


async def claim_one(store: Store, owner: PoolId = OWNER, lease: float = LEASE) -> Job:
    [job] = await claim(store, owner, limit=1, lease=lease)
    return job


async def complete(
    store: Store, lease: Lease, result: JSONValue, *, slot: str, started_at: datetime
) -> bool:
    """One success, written as the acknowledger writes them (a batch of one); False: the lease
    was lost."""
    completion = Completion(lease, dumps(result, what="result"), WorkerId(slot), started_at)
    return lease.job_id in await store.outcomes.complete_many([completion])


async def fail(
    store: Store,
    lease: Lease,
    error: ErrorInfo,
    *,
    slot: str,
    started_at: datetime,
    retry_at: datetime | None,
    dead_reason: DeadReason | None = None,
) -> bool:
    """One failed attempt; False: the lease was lost."""
    failure = Failure(
        lease=lease,
        error=error,
        slot=WorkerId(slot),
        started_at=started_at,
        retry_at=retry_at,
        dead_reason=dead_reason,
    )
    return await store.outcomes.fail(failure)


def boom(message: str = "boom") -> ErrorInfo:
    return ErrorInfo(type="RuntimeError", message=message, traceback="Traceback ...")


def later(clock: FakeClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)
