"""Small builders shared by the contract tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jobq.clock import FakeClock
from jobq.domain.ids import WorkerId
from jobq.domain.job import ErrorInfo, Job, NewJob
from jobq.store import Store

OWNER = WorkerId("host:1:aaaaaa")
OTHER = WorkerId("host:2:bbbbbb")
LEASE = 30.0


def new(job_type: str = "echo", **fields: Any) -> NewJob:
    return NewJob(type=job_type, **fields)


async def add(store: Store, *jobs: NewJob) -> list[Job]:
    return [result.job for result in await store.enqueue(list(jobs) or [new()])]


async def claim_one(store: Store, owner: WorkerId = OWNER, lease: float = LEASE) -> Job:
    [job] = await store.claim(owner, queues=None, limit=1, lease_seconds=lease)
    return job


def boom(message: str = "boom") -> ErrorInfo:
    return ErrorInfo(type="RuntimeError", message=message, traceback="Traceback ...")


def later(clock: FakeClock, seconds: float) -> datetime:
    return clock.now() + timedelta(seconds=seconds)
