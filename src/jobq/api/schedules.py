"""``/schedules``: periodic jobs over HTTP. Lists the schedules declared in the serving app's
code and those made at run time (kept in the store, fired by every process); makes, changes,
pauses and removes the latter (admin tokens), and pauses and resumes the former."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from jobq.api.json_body import json_route
from jobq.api.ops import jobqueue_of
from jobq.domain.job import DEFAULT_QUEUE, PRIORITY_MAX, PRIORITY_MIN
from jobq.domain.schedule import (
    DEFAULT_CATCH_UP,
    MAX_CATCH_UP,
    Missed,
    ScheduleInfo,
    is_schedule_name,
)
from jobq.jobqueue import JobQueue
from jobq.redaction import redact_payload
from jobq.wire import NAME, ErrorBody, JobTypeName, QueueName, _Strict

router = APIRouter()

MissedPolicy = Literal["skip", "latest", "all"]
MAX_CRON = 200

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (401, "an API token is needed (once any exists), or the one given is not valid"),
        (403, "the token's scope may not do this (changes need an admin token)"),
        (404, "no schedule has that name"),
        (409, "the name is taken, or the schedule is declared in code and cannot change so"),
        (415, "the body is not JSON"),
        (422, "a field is not allowed (an expression, a time zone); `details` names it"),
        (503, "the store is unavailable; try again after Retry-After seconds"),
    )
}


class ScheduleIn(_Strict):
    """A schedule to make: ``type`` is enqueued with ``payload`` at every tick of ``cron``."""

    name: str = Field(description="unique among the schedules", json_schema_extra=NAME)
    type: JobTypeName = Field(description="the job type to enqueue", json_schema_extra=NAME)
    cron: str = Field(
        min_length=1,
        max_length=MAX_CRON,
        description="five fields (minute hour day month weekday), or six with seconds first",
    )
    timezone: str = Field("UTC", min_length=1, max_length=64, description="an IANA time zone")
    payload: dict[str, Any] = Field(default_factory=dict)
    queue: QueueName = Field(DEFAULT_QUEUE, json_schema_extra=NAME)
    priority: int = Field(0, ge=PRIORITY_MIN, le=PRIORITY_MAX)
    missed: MissedPolicy = Field(
        Missed.SKIP.value,
        description="ticks missed while no process ran: skip, latest (one job) or all",
    )
    catch_up: int = Field(
        DEFAULT_CATCH_UP, ge=1, le=MAX_CATCH_UP, description="most jobs for `all`"
    )
    paused: bool = False


class SchedulePatch(_Strict):
    """The fields to change; a schedule declared in code can only be paused or resumed."""

    type: JobTypeName | None = Field(None, json_schema_extra=NAME)
    cron: str | None = Field(None, min_length=1, max_length=MAX_CRON)
    timezone: str | None = Field(None, min_length=1, max_length=64)
    payload: dict[str, Any] | None = None
    queue: QueueName | None = Field(None, json_schema_extra=NAME)
    priority: int | None = Field(None, ge=PRIORITY_MIN, le=PRIORITY_MAX)
    missed: MissedPolicy | None = None
    catch_up: int | None = Field(None, ge=1, le=MAX_CATCH_UP)
    paused: bool | None = None

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        if "type" in given:
            given["job_type"] = given.pop("type")
        return given


class LastRunOut(BaseModel):
    tick: datetime = Field(description="the latest tick that made a job")
    job_id: str
    at: datetime = Field(description="when that job was made")


class ScheduleOut(BaseModel):
    name: str
    source: Literal["code", "stored"] = Field(
        description="declared in the app's code, or made at run time and kept in the store"
    )
    type: str
    cron: str
    timezone: str
    description: str = Field(description="the expression in words")
    payload: dict[str, Any]
    queue: str
    priority: int
    missed: MissedPolicy
    catch_up: int
    paused: bool
    next_runs: list[datetime]
    last_run: LastRunOut | None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ScheduleListOut(BaseModel):
    schedules: list[ScheduleOut]


def schedule_out(jq: JobQueue, info: ScheduleInfo) -> ScheduleOut:
    schedule = info.schedule
    job_type = jq.registry.get(schedule.job_type)
    payload = dict(schedule.payload)
    if job_type is not None and job_type.secret:
        payload = redact_payload(payload, job_type.secret)
    last = info.last
    return ScheduleOut(
        name=schedule.name,
        source="stored" if schedule.stored else "code",
        type=schedule.job_type,
        cron=schedule.expression,
        timezone=schedule.timezone,
        description=schedule.cron.explain(),
        payload=payload,
        queue=schedule.queue,
        priority=schedule.priority,
        missed=schedule.missed.value,
        catch_up=schedule.catch_up,
        paused=info.paused,
        next_runs=[] if info.paused else info.next_ticks,
        last_run=(
            None
            if last is None or last.job_id is None or last.fired_at is None
            else LastRunOut(tick=last.tick, job_id=last.job_id, at=last.fired_at)
        ),
        created_at=info.created_at,
        updated_at=info.updated_at,
    )


@router.get("/schedules", response_model=ScheduleListOut, responses=_ERRORS)
async def list_schedules(request: Request) -> ScheduleListOut:
    """Every schedule: those in the serving app's code, then those made at run time."""
    jq = jobqueue_of(request)
    return ScheduleListOut(schedules=[schedule_out(jq, i) for i in await jq.schedules.list()])


@json_route(
    router, "POST", "/schedules", status_code=201, response_model=ScheduleOut, responses=_ERRORS
)
async def create_schedule(body: ScheduleIn, request: Request) -> ScheduleOut:
    """Make a schedule, kept in the store: every process fires it from its next tick on."""
    jq = jobqueue_of(request)
    info = await jq.schedules.create(
        body.type,
        body.cron,
        name=body.name,
        timezone=body.timezone,
        payload=body.payload,
        queue=body.queue,
        priority=body.priority,
        missed=body.missed,
        catch_up=body.catch_up,
        paused=body.paused,
    )
    return schedule_out(jq, info)


@router.get("/schedules/{name}", response_model=ScheduleOut, responses=_ERRORS)
async def get_schedule(name: str, request: Request) -> ScheduleOut:
    jq = jobqueue_of(request)
    return schedule_out(jq, await jq.schedules.get(_name(name)))


@json_route(router, "PATCH", "/schedules/{name}", response_model=ScheduleOut, responses=_ERRORS)
async def update_schedule(name: str, body: SchedulePatch, request: Request) -> ScheduleOut:
    """Change a stored schedule; pause or resume any (``{"paused": true}``). Ticks passed
    while paused make no job."""
    jq = jobqueue_of(request)
    return schedule_out(jq, await jq.schedules.update(_name(name), body.changes()))


@router.delete("/schedules/{name}", status_code=204, responses=_ERRORS)
async def delete_schedule(name: str, request: Request) -> Response:
    """Remove a stored schedule (the jobs it made stay)."""
    await jobqueue_of(request).schedules.remove(_name(name))
    return Response(status_code=204)


def _name(name: str) -> str:
    """A name from the path; one no schedule can have (too long, a character a name may not
    hold, such as NUL) is no schedule's: 404, without asking the store."""
    return name if is_schedule_name(name) else ""
