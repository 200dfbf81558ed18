"""``/queues``: the queues with their jobs by state, their pauses and limits; pausing and
resuming a queue, limiting it (admin tokens). A pause holds for every process on the store: no
claim takes the queue's jobs until it is resumed (or until its ``until``); jobs are still
accepted into it. A limit holds for every process too (``api/types.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field

from jobq.api.ops import jobqueue_of
from jobq.api.types import ERRORS as LIMIT_ERRORS
from jobq.api.types import LimitIn, LimitsOut, limits_out
from jobq.domain.limits import LimitScope
from jobq.domain.pauses import check_until
from jobq.insights import QueueInfo
from jobq.wire import NAME, ErrorBody, QueueName, _Strict

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "an API token is needed (once any exists), or the one given is not valid"),
        (403, "the token's scope may not do this (a pause or a resume needs an admin token)"),
        (422, "the queue's name or `until` is not allowed; `details` names it"),
        (503, "the store is unavailable; try again after Retry-After seconds"),
    )
}

PathQueue = Annotated[QueueName, Path(description="the queue", json_schema_extra=NAME)]


def _as_text(value: object) -> object:
    """A time comes as ISO 8601 text: a number (or digits) is not read as seconds since 1970."""
    if value is None:
        return value
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else _refuse()
    except ValueError:
        _refuse()


def _refuse() -> NoReturn:
    raise ValueError("a time is ISO 8601 text with its zone: 2030-06-02T07:00:00+02:00")


class PauseIn(_Strict):
    until: Annotated[AwareDatetime, BeforeValidator(_as_text)] | None = Field(
        None, description="when the pause ends by itself (with a time zone); null: at a resume"
    )


class QueueOut(BaseModel):
    name: str
    counts: dict[str, int] = Field(description="status -> jobs")
    paused: bool
    paused_at: datetime | None = Field(None, description="since when, if paused")
    paused_until: datetime | None = Field(
        None, description="when the pause ends by itself; null: paused until resumed"
    )
    limit: LimitsOut | None = Field(None, description="its limits; null: none")


class QueueListOut(BaseModel):
    queues: list[QueueOut]


class ResumeOut(QueueOut):
    resumed: bool = Field(description="false: the queue was not paused, and nothing changed")


def _queue_out(info: QueueInfo) -> QueueOut:
    pause = info.pause
    return QueueOut(
        name=info.name,
        counts=info.counts,
        paused=pause is not None,
        paused_at=None if pause is None else pause.paused_at,
        paused_until=None if pause is None else pause.until,
        limit=limits_out(info.limits),
    )


@router.get("/queues", response_model=QueueListOut, responses=_ERRORS)
async def list_queues(request: Request) -> QueueListOut:
    """Every queue that has jobs or a pause, by name."""
    return QueueListOut(queues=[_queue_out(info) for info in await jobqueue_of(request).queues()])


@router.post("/queues/{name}/pause", response_model=QueueOut, responses=_ERRORS)
async def pause_queue(name: PathQueue, request: Request, body: PauseIn | None = None) -> QueueOut:
    """Pause the queue for every process: no new claims of its jobs (running ones finish; new
    ones are accepted). Pausing it again sets its new end."""
    jq = jobqueue_of(request)
    until = None if body is None else body.until
    if until is not None:
        try:
            check_until(until, jq.clock.now())
        except ValueError as exc:
            raise RequestValidationError(
                [{"loc": ("body", "until"), "type": "value_error", "msg": str(exc)}]
            ) from None
    await jq.pauses.pause(name, until=until)
    return _queue_out(await jq.queue(name))


@router.post("/queues/{name}/resume", response_model=ResumeOut, responses=_ERRORS)
async def resume_queue(name: PathQueue, request: Request) -> ResumeOut:
    """Lift the queue's pause; its waiting jobs are claimed again at once."""
    jq = jobqueue_of(request)
    resumed = await jq.pauses.resume(name)
    return ResumeOut(**_queue_out(await jq.queue(name)).model_dump(), resumed=resumed)


class UnlimitedQueueOut(QueueOut):
    cleared: bool = Field(description="false: no limit was set at run time; nothing changed")


@router.put("/queues/{name}/limit", response_model=QueueOut, responses=LIMIT_ERRORS)
async def limit_queue(name: PathQueue, body: LimitIn, request: Request) -> QueueOut:
    """Limit the queue's jobs (of every type) across the fleet: how many run at once, how many
    start per period."""
    jq = jobqueue_of(request)
    limits = body.limits()
    await jq.limits.set(LimitScope.QUEUE, name, concurrency=limits.concurrency, rate=limits.rate)
    return _queue_out(await jq.queue(name))


@router.delete("/queues/{name}/limit", response_model=UnlimitedQueueOut, responses=LIMIT_ERRORS)
async def unlimit_queue(name: PathQueue, request: Request) -> UnlimitedQueueOut:
    """Delete the queue's limit."""
    jq = jobqueue_of(request)
    cleared = await jq.limits.clear(LimitScope.QUEUE, name)
    return UnlimitedQueueOut(**_queue_out(await jq.queue(name)).model_dump(), cleared=cleared)
