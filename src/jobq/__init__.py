"""jobq: a durable background-job queue. ``JobQueue`` to register handlers and enqueue from
Python; ``Client`` and ``AsyncClient`` to talk to a running ``jobq serve``."""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("jobq")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

import structlog

from jobq.logs import route_to_logging

if not structlog.is_configured():  # an application that set up structlog keeps its own
    route_to_logging()

from jobq.client import AsyncClient, Client, ClientError
from jobq.clock import Clock, FakeClock, SystemClock
from jobq.context import JobContext
from jobq.domain.errors import (
    ConfigError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidJob,
    JobNotFound,
    JobqError,
    NonRetryableError,
    StoreError,
    StoreUnavailable,
    UnknownJobType,
    UnsupportedStore,
)
from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.job import Attempt, Backoff, DeadReason, ErrorInfo, Job, Lease, NewJob, Outcome
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.registry import Registry
from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool

__all__ = [
    "AsyncClient",
    "Attempt",
    "Backoff",
    "Client",
    "ClientError",
    "Clock",
    "ConfigError",
    "DeadReason",
    "ErrorInfo",
    "FakeClock",
    "IdempotencyConflict",
    "IllegalTransition",
    "InvalidJob",
    "Job",
    "JobContext",
    "JobId",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "JobqError",
    "Lease",
    "NewJob",
    "NonRetryableError",
    "Outcome",
    "PoolConfig",
    "PoolId",
    "Registry",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "UnknownJobType",
    "UnsupportedStore",
    "WorkerId",
    "WorkerPool",
    "__version__",
]
