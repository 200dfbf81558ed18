"""Every error jobq raises on purpose derives from ``JobqError``.

    JobqError
    ├── ConfigError              a setting has a value that is not allowed
    ├── StoreError               the store failed (I/O, locked too long, unreachable)
    │   └── StoreUnavailable     the store cannot be reached now; try again later
    │       └── StoreFull        the disk holding the store is full; free space, then retry
    ├── UnsupportedStore         a database URL names a store jobq does not have
    ├── JobNotFound              no job has that id
    ├── IllegalTransition        the job's state does not allow what was asked
    ├── UnknownJobType           no handler is registered for that type
    ├── IdempotencyConflict      an idempotency key was reused for a different job
    ├── InvalidJob               a new job's fields are not allowed
    │   └── InvalidWorkflow      a workflow's graph or one of its jobs is not allowed
    ├── WorkflowNotFound         no workflow has that id
    ├── JobFailed                a job waited for (a typed call's result) ended dead or cancelled
    ├── InvalidSchedule          a schedule's field is not allowed (also a ValueError)
    ├── ScheduleNotFound         no schedule has that name
    ├── JobTypeNotFound          no process knows that job type, and it has no jobs
    └── ScheduleConflict         that name is taken, or a schedule declared in code cannot change so

Handlers raise ``NonRetryableError`` (not a ``JobqError``: it is the handler's own failure) to
say that a failure must not be retried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class JobqError(Exception):
    """A jobq error. The docstring of each subclass is its default message."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(JobqError):
    """A setting has a value that is not allowed."""


class StoreError(JobqError):
    """The job store failed."""


class StoreUnavailable(StoreError):
    """The job store cannot be reached now."""


class StoreFull(StoreUnavailable):
    """The disk holding the job store is full: nothing more can be written until space is
    freed. Nothing half-written is kept (the transaction is rolled back); try again later."""


class UnsupportedStore(JobqError):
    """The database URL names a store that jobq does not have."""


class JobNotFound(JobqError):
    """No job has that id."""


class IllegalTransition(JobqError):
    """The job's state does not allow that."""

    def __init__(self, message: str | None = None, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class UnknownJobType(JobqError):
    """No handler is registered for that job type."""


class IdempotencyConflict(JobqError):
    """That idempotency key already belongs to a different job."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field of a request that is wrong: its JSON path (``payload.items[2].sku``) and why."""

    field: str
    message: str


class InvalidJob(JobqError):
    """The new job is not valid. ``problems``: the fields at fault, when it is known which
    (a payload that does not fit its type's schema names each one)."""

    def __init__(self, message: str | None = None, *, problems: Sequence[FieldProblem] = ()):
        super().__init__(message)
        self.problems = list(problems)

    def within(self, prefix: str) -> InvalidJob:
        """The same error about the job at ``prefix`` of a larger request (``jobs[3]``)."""
        return InvalidJob(
            f"{prefix}: {self}",
            problems=[FieldProblem(f"{prefix}.{p.field}", p.message) for p in self.problems],
        )


class InvalidWorkflow(InvalidJob):
    """The workflow is not valid (a reference given twice or to no job, a cycle, a bad job):
    ``problems`` names each fault; nothing is stored."""


class WorkflowNotFound(JobqError):
    """No workflow has that id."""


class JobFailed(JobqError):
    """The job ended without succeeding (dead or cancelled): ``job`` is how it ended."""

    def __init__(self, message: str | None = None, *, job: Any = None) -> None:
        super().__init__(message)
        self.job = job


class InvalidSchedule(JobqError, ValueError):
    """The schedule is not valid."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        #: the field at fault, as the API names it (``cron``, ``timezone``, ``payload``...)
        self.field = field


class JobTypeNotFound(JobqError):
    """No process knows that job type, and it has no jobs."""


class ScheduleNotFound(JobqError):
    """No schedule has that name."""


class ScheduleConflict(JobqError):
    """A schedule has that name already, or the change is not allowed for this schedule."""


class NonRetryableError(Exception):
    """Raised by a handler: this failure is final; the job goes to ``dead`` without retrying."""
