"""Typed calls: what ``@jq.job`` returns. The decorated handler still runs when called; it also
enqueues its own job type with a payload of the type its handler takes, checked by mypy in the
caller's code, and reads the result as the type its handler returns:

    @jq.job("email.send")
    async def send_email(payload: EmailIn) -> Receipt: ...

    sent = await send_email.enqueue(EmailIn(to="a@example.com"), delay=60)
    receipt: Receipt = await sent.result(timeout=30)

Over HTTP: ``jobq.Client(url).enqueue(send_email, EmailIn(...))``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypedDict, TypeVar, cast, overload

from jobq.domain.errors import JobFailed
from jobq.domain.job import Backoff, JSONValue
from jobq.domain.states import JobState
from jobq.domain.unique import Unique
from jobq.schemas import Shape

if TYPE_CHECKING:
    from typing import Unpack

    from jobq.context import JobContext
    from jobq.domain.job import Job
    from jobq.flows import Step
    from jobq.registry import JobType

P = TypeVar("P")
R = TypeVar("R")


class EnqueueOptions(TypedDict, total=False):
    """What an enqueue takes besides the payload (as ``JobQueue.new_job``)."""

    queue: str
    priority: int
    delay: float | None
    run_at: datetime | None
    max_attempts: int | None
    timeout: float | None
    backoff: Backoff | None
    idempotency_key: str | None
    unique: Unique | None
    depends_on: Sequence[str]
    on_dependency_failure: str


class Enqueuing(Protocol):
    """What a typed call needs of a ``JobQueue``."""

    async def enqueue(
        self, type: str, payload: Mapping[str, JSONValue] | None = None, **options: Any
    ) -> Job: ...

    async def wait(self, job_id: str, *, timeout: float | None = None) -> Job: ...


class TypedJob(Generic[P, R]):
    """A registered handler: call it as the function it was; ``enqueue`` its job type."""

    def __init__(self, job_type: JobType, queue: Enqueuing | None = None) -> None:
        self.job_type = job_type
        self.name = job_type.name
        self._queue = queue
        functools.update_wrapper(self, job_type.handler)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.job_type.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<job type {self.name!r}: {self.job_type.handler!r}>"

    def payload_json(self, payload: P) -> dict[str, JSONValue]:
        """``payload`` as the JSON object that is sent and stored (a model dumped)."""
        return payload_json(self.job_type.payload, payload)

    def step(
        self, payload: P, *, ref: str | None = None, **options: Unpack[EnqueueOptions]
    ) -> Step:
        """A job of this type in a workflow (``jobq.flows``), its payload type-checked."""
        from jobq.flows import step

        return step(self, payload, ref=ref, **options)

    async def enqueue(self, payload: P, **options: Unpack[EnqueueOptions]) -> Enqueued[R]:
        """Store a job of this type with ``payload`` (checked against its schema) and return
        a handle on it; options as for ``JobQueue.enqueue``."""
        if self._queue is None:
            raise TypeError(
                f"job type {self.name!r} was registered on a Registry, not a JobQueue: enqueue "
                f"it with jq.enqueue({self.name!r}, payload)"
            )
        job = await self._queue.enqueue(self.name, self.payload_json(payload), **options)
        return Enqueued(job, self._queue, self.job_type.result)


def payload_json(shape: Shape | None, payload: Any) -> dict[str, JSONValue]:
    """A typed payload (a model, a dataclass) as JSON; a mapping as it is."""
    if payload is None:
        return {}
    if isinstance(payload, Mapping):
        return dict(payload)
    if shape is None:
        raise TypeError(f"the payload must be a JSON object (a dict), not {type(payload).__name__}")
    value = shape.to_json(payload)
    if not isinstance(value, dict):
        raise TypeError(f"the payload must be a JSON object, not {type(value).__name__}")
    return value


@dataclass(frozen=True, slots=True)
class Enqueued(Generic[R]):
    """A job enqueued by a typed call: the job as stored, and its typed result."""

    job: Job
    _queue: Enqueuing
    _result: Shape | None

    @property
    def id(self) -> str:
        return self.job.id

    async def result(self, *, timeout: float | None = None) -> R:
        """Wait until the job ends and return its result as the handler's return type;
        ``JobFailed`` if it ended dead or cancelled, ``TimeoutError`` after ``timeout`` s."""
        job = await self._queue.wait(self.job.id, timeout=timeout)
        if job.status is not JobState.SUCCEEDED:
            raise JobFailed(f"job {job.id} ended {job.status.value}", job=job)
        if self._result is None:
            return cast(R, job.result)  # untyped: whatever it returned
        return self._result.load(job.result, root="result")  # type: ignore[no-any-return]


class JobDecorator(Protocol):
    """What ``@jq.job(...)`` is: it takes a handler of ``(payload)`` or ``(payload, ctx)``,
    ``async`` or not, and gives its ``TypedJob``."""

    @overload
    def __call__(self, handler: Callable[[P, JobContext], Awaitable[R]], /) -> TypedJob[P, R]: ...

    @overload
    def __call__(self, handler: Callable[[P], Awaitable[R]], /) -> TypedJob[P, R]: ...

    @overload
    def __call__(self, handler: Callable[[P, JobContext], R], /) -> TypedJob[P, R]: ...

    @overload
    def __call__(self, handler: Callable[[P], R], /) -> TypedJob[P, R]: ...

    @overload
    def __call__(self, handler: Callable[..., Any], /) -> TypedJob[Any, Any]: ...
