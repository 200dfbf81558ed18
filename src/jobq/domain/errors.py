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
    ├── InvalidSchedule          a schedule's field is not allowed (also a ValueError)
    ├── ScheduleNotFound         no schedule has that name
    └── ScheduleConflict         that name is taken, or a schedule declared in code cannot change so

Handlers raise ``NonRetryableError`` (not a ``JobqError``: it is the handler's own failure) to
say that a failure must not be retried.
"""

from __future__ import annotations


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


class InvalidJob(JobqError):
    """The new job is not valid."""


class InvalidSchedule(JobqError, ValueError):
    """The schedule is not valid."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        #: the field at fault, as the API names it (``cron``, ``timezone``, ``payload``...)
        self.field = field


class ScheduleNotFound(JobqError):
    """No schedule has that name."""


class ScheduleConflict(JobqError):
    """A schedule has that name already, or the change is not allowed for this schedule."""


class NonRetryableError(Exception):
    """Raised by a handler: this failure is final; the job goes to ``dead`` without retrying."""
