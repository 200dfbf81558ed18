"""jobq: a durable background-job queue. ``JobQueue`` to register handlers and enqueue from
Python; ``Client`` and ``AsyncClient`` to talk to a running ``jobq serve``."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import structlog

from jobq.logs import route_to_logging

if not structlog.is_configured():  # an application that set up structlog keeps its own
    route_to_logging()

from jobq.clock import Clock, FakeClock, SystemClock
from jobq.context import Dependency, JobContext
from jobq.domain.errors import (
    ConfigError,
    IdempotencyConflict,
    IllegalTransition,
    InvalidJob,
    InvalidWorkflow,
    JobFailed,
    JobNotFound,
    JobqError,
    NonRetryableError,
    StoreError,
    StoreUnavailable,
    UnknownJobType,
    UnsupportedStore,
    WorkflowNotFound,
)
from jobq.domain.ids import JobId, PoolId, WorkerId
from jobq.domain.job import Attempt, Backoff, DeadReason, ErrorInfo, Job, Lease, NewJob, Outcome
from jobq.domain.limits import Limit, Rate
from jobq.domain.retention import Retain
from jobq.domain.states import JobState
from jobq.domain.unique import Unique
from jobq.domain.workflows import Workflow
from jobq.flows import Flow, chain, group, step
from jobq.jobqueue import JobQueue
from jobq.registry import Registry
from jobq.typed import Enqueued, TypedJob
from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool

if TYPE_CHECKING:
    from jobq.client import AsyncClient, Client, ClientError

# Loaded when first asked for, so a worker process does not pay for what it never uses: the
# HTTP client (httpx and the API's pydantic models) and the installed version's metadata.
_LAZY = {"AsyncClient": "jobq.client", "Client": "jobq.client", "ClientError": "jobq.client"}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'jobq' has no attribute {name!r}")
    globals()[name] = value
    return value


def _installed_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("jobq")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0"


__all__ = [
    "AsyncClient",
    "Attempt",
    "Backoff",
    "Client",
    "ClientError",
    "Clock",
    "ConfigError",
    "DeadReason",
    "Dependency",
    "Enqueued",
    "ErrorInfo",
    "FakeClock",
    "Flow",
    "IdempotencyConflict",
    "IllegalTransition",
    "InvalidJob",
    "InvalidWorkflow",
    "Job",
    "JobContext",
    "JobFailed",
    "JobId",
    "JobNotFound",
    "JobQueue",
    "JobState",
    "JobqError",
    "Lease",
    "Limit",
    "NewJob",
    "NonRetryableError",
    "Outcome",
    "PoolConfig",
    "PoolId",
    "Rate",
    "Registry",
    "Retain",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "TypedJob",
    "Unique",
    "UnknownJobType",
    "UnsupportedStore",
    "WorkerId",
    "WorkerPool",
    "Workflow",
    "WorkflowNotFound",
    "__version__",
    "chain",
    "group",
    "step",
]
