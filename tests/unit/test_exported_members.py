"""The public names of ``jobq``: pinned, so a change to them is a deliberate one."""

from __future__ import annotations

import jobq

EXPECTED = [
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


def test_all_is_sorted() -> None:
    assert list(jobq.__all__) == sorted(jobq.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(set(jobq.__all__)) == len(jobq.__all__)


def test_every_name_exists() -> None:
    missing = [name for name in jobq.__all__ if not hasattr(jobq, name)]
    assert missing == []


def test_all_is_pinned() -> None:
    assert list(jobq.__all__) == EXPECTED


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from jobq import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == EXPECTED


def test_errors_derive_from_jobq_error() -> None:
    for name in [
        "ConfigError",
        "IdempotencyConflict",
        "IllegalTransition",
        "InvalidJob",
        "JobNotFound",
        "StoreError",
        "StoreUnavailable",
        "UnknownJobType",
        "UnsupportedStore",
    ]:
        assert issubclass(getattr(jobq, name), jobq.JobqError), name
    assert issubclass(jobq.StoreUnavailable, jobq.StoreError)
    assert not issubclass(jobq.NonRetryableError, jobq.JobqError)


def test_version_is_a_string() -> None:
    assert isinstance(jobq.__version__, str)
    assert jobq.__version__.count(".") >= 2
