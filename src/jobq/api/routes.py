"""The HTTP endpoints. Each one parses, calls the ``JobQueue``, and shapes the answer."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic_core import to_json

from jobq.api.json_body import Endpoint, json_route
from jobq.api.ops import JQ, jobqueue_of
from jobq.dashboard.pages import overview_page
from jobq.domain.errors import InvalidJob, JobqError
from jobq.domain.ids import JobId, parse_job_id
from jobq.domain.paging import DEFAULT_PAGE, MAX_PAGE
from jobq.domain.states import JobState
from jobq.schemas import summary
from jobq.store.records import JobFilter
from jobq.wire import (
    AttemptOut,
    BatchIn,
    BatchOut,
    CancelManyIn,
    CancelManyOut,
    ErrorBody,
    JobDetailOut,
    JobIn,
    JobOut,
    JobPageOut,
    MinuteOut,
    PausedOut,
    ProcessOut,
    RetryDeadIn,
    RetryDeadOut,
    StatsOut,
    TypeWaitingOut,
    job_document,
)
from jobq.worker.pool import WorkerPool

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "the body is not valid JSON"),
        (401, "an API token is needed (once any exists), or the one given is not valid"),
        (403, "the token's scope may not do this"),
        (404, "no job has that id"),
        (409, "the job's state does not allow it, or the idempotency key names another job"),
        (413, "the body is larger than the limit"),
        (415, "the body is not JSON"),
        (422, "a field is missing or not allowed; `details` names each"),
        (429, "the token's request rate is spent; try again after Retry-After seconds"),
        (503, "the store is unavailable; try again after Retry-After seconds"),
        (507, "the disk holding the store is full; try again after Retry-After seconds"),
    )
}


def json_post(path: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """``@router.post(path, ...)`` for a route that takes a JSON body (``json_body.py``)."""
    return json_route(router, "POST", path, **options)


def _answer(document: dict[str, Any], status_code: int) -> Response:
    """``document`` (built with ``job_document``) as the JSON answer, serialised once: a route
    that returns a model has FastAPI dump it, validate it again and dump it once more, which
    with a model per job was most of the cost of a batch. The route declares the model, so
    the schema is the same."""
    return Response(to_json(document), status_code, media_type="application/json")


@json_post(
    "/jobs",
    status_code=201,
    response_model=JobOut,
    responses={
        200: {
            "model": JobOut,
            "description": "an earlier job with the same idempotency key, or the unique job "
            "that holds this job's unique key (then the header Jobq-Unique: existing)",
            "headers": {
                "Jobq-Unique": {
                    "description": "existing: a unique job held the key; this is that job",
                    "schema": {"type": "string", "enum": ["existing"]},
                }
            },
        },
        **_ERRORS,
    },
)
async def enqueue(
    body: JobIn,
    request: Request,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
) -> Response:
    """Store a job durably and return it (201). A repeat with the same idempotency key (header
    or field) returns the first job with 200; so does a unique job (``unique``) whose key a
    job already holds, with ``Jobq-Unique: existing``."""
    jq = jobqueue_of(request)  # not the JQ dependency: each one costs the hottest route time
    if idempotency_key and body.idempotency_key and idempotency_key != body.idempotency_key:
        raise InvalidJob("the Idempotency-Key header and the idempotency_key field differ")
    options = body.new_job_options(idempotency_key=idempotency_key)
    await jq.catalog.refresh()
    [result] = await jq.enqueue_many([jq.new_job(**options)])
    answer = _answer(job_document(jq.visible(result.job)), 201 if result.created else 200)
    if result.unique_hit:
        answer.headers["Jobq-Unique"] = "existing"
    return answer


@json_post(
    "/jobs/batch",
    status_code=201,
    response_model=BatchOut,
    responses=_ERRORS,
)
async def enqueue_batch(body: BatchIn, jq: JQ) -> Response:
    """Store up to 1,000 jobs in one transaction; one invalid job rejects them all."""
    await jq.catalog.refresh()
    jobs = []
    misfits: list[InvalidJob] = []  # payloads that do not fit: every one is named
    for index, item in enumerate(body.jobs):
        try:
            jobs.append(jq.new_job(**item.new_job_options()))
        except InvalidJob as exc:
            if not exc.problems:
                raise exc.within(f"jobs[{index}]") from exc
            misfits.append(exc.within(f"jobs[{index}]"))
        except JobqError as exc:
            raise type(exc)(f"jobs[{index}]: {exc}") from exc
    if misfits:
        problems = [p for exc in misfits for p in exc.problems]
        raise InvalidJob(f"{summary(problems)} (no job was stored)", problems=problems)
    results = await jq.enqueue_many(jobs)
    jobs_out = [job_document(jq.visible(r.job)) for r in results]
    return _answer({"jobs": jobs_out, "created": sum(r.created for r in results)}, 201)


@router.get("/jobs", response_model=JobPageOut, responses=_ERRORS)
async def list_jobs(
    request: Request,
    jq: JQ,
    status: JobState | None = None,
    type: str | None = None,
    queue: str | None = None,
    limit: Annotated[
        int, Query(ge=1, description=f"at most JOBQ_MAX_PAGE_SIZE ({MAX_PAGE} by default)")
    ] = DEFAULT_PAGE,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the page before")] = None,
) -> Response:
    """Jobs, newest first, filtered by status, type and queue."""
    _check_page_size(limit, request.app.state.limits.max_page_size)
    page = await jq.list_jobs(
        JobFilter(status=status, type=type, queue=queue), limit=limit, after=_decode(cursor)
    )
    answer = {
        "jobs": [job_document(jq.visible(job)) for job in page.jobs],
        "next_cursor": None if page.next_after is None else _encode(page.next_after),
    }
    return _answer(answer, 200)


@router.api_route("/jobs/batch", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
@router.api_route(
    "/jobs/cancel", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
@router.api_route(
    "/jobs/retry-dead",
    methods=["GET", "PUT", "PATCH", "DELETE"],
    include_in_schema=False,
    response_model=None,
)
async def post_only() -> Response:
    """``GET /jobs/batch`` would otherwise be read as ``GET /jobs/{job_id}`` with a bad id."""
    raise HTTPException(405)


@router.get("/jobs/{job_id}", responses=_ERRORS)
async def get_job(job_id: uuid.UUID, jq: JQ) -> JobDetailOut:
    """One job with every attempt, the running one included."""
    job = await jq.get(str(job_id))
    attempts = await jq.attempts(job.id)
    return JobDetailOut(
        **JobOut.of(jq.visible(job)).model_dump(), attempts=[AttemptOut.of(a) for a in attempts]
    )


@router.post("/jobs/{job_id}/cancel", responses=_ERRORS)
async def cancel_job(job_id: uuid.UUID, jq: JQ) -> JobOut:
    """Cancel a pending, failed or running job (409 otherwise). A running job's run is
    stopped: its process hears of it at once (an ``async def`` handler is cancelled, a ``def``
    handler sees ``ctx.cancelled``), its attempt is recorded as ``cancelled``, no retry
    follows."""
    return JobOut.of(jq.visible(await jq.cancel(str(job_id))))


@router.post("/jobs/{job_id}/retry", responses=_ERRORS)
async def retry_job(job_id: uuid.UUID, jq: JQ) -> JobOut:
    """Make a dead or cancelled job pending again, with at least one attempt left (409
    otherwise)."""
    return JobOut.of(jq.visible(await jq.retry(str(job_id))))


@json_post("/jobs/cancel", responses=_ERRORS)
async def cancel_many(body: CancelManyIn, jq: JQ) -> CancelManyOut:
    """Cancel the jobs of a type, a queue or a state (up to ``limit``, newest first); running
    ones are stopped as ``POST /jobs/{id}/cancel`` stops one."""
    report = await jq.cancel_many(
        job_type=body.type,
        queue=body.queue,
        status=None if body.status is None else JobState(body.status),
        limit=body.limit,
    )
    return CancelManyOut(cancelled=report.cancelled, more=report.more)


@json_post("/jobs/retry-dead", responses=_ERRORS)
async def retry_dead(body: RetryDeadIn, jq: JQ) -> RetryDeadOut:
    """Make every dead job of a type (and queue, if given) pending again."""
    return RetryDeadOut(retried=await jq.retry_dead(body.type, queue=body.queue))


@router.get("/stats", responses=_ERRORS)
async def stats(request: Request, jq: JQ) -> StatsOut:
    """Jobs by queue and status, and this process's workers."""
    view = await jq.overview(minutes=THROUGHPUT_MINUTES)
    pool: WorkerPool | None = request.app.state.pool
    workers = None
    if pool is not None:
        workers = {"count": pool.config.worker_count, "busy": pool.busy, "buffered": pool.buffered}
    return StatsOut(
        counts=view.counts,
        paused=[
            PausedOut(queue=p.queue, paused_at=p.paused_at, until=p.until) for p in view.paused
        ],
        totals=view.totals,
        workers=workers,
        processes=[
            ProcessOut(
                id=p.id,
                host=p.host,
                pid=p.pid,
                workers=p.workers,
                busy=p.busy,
                buffered=p.buffered,
                queues=None if p.queues is None else list(p.queues),
                types=None if p.types is None else list(p.types),
                started_at=p.started_at,
                seen_at=p.seen_at,
            )
            for p in view.processes
        ],
        throughput=[
            MinuteOut(minute=minute, **{outcome.value: n for outcome, n in row.items()})
            for minute, row in view.by_minute()
        ],
        oldest_waiting_seconds=view.oldest_waiting,
        warnings=await jq.warnings(),
        types=[
            TypeWaitingOut(
                type=t.type,
                waiting=t.waiting,
                oldest_waiting_seconds=t.oldest,
                processes=t.processes,
                unhandled=t.unhandled,
                warning=t.warning,
            )
            for t in view.waiting
        ],
    )


THROUGHPUT_MINUTES = 60


@router.get("/", response_model=None)
async def index(request: Request) -> Response:
    """The dashboard for browsers; for anything else, where to go."""
    if "text/html" in request.headers.get("accept", ""):
        page = await overview_page(request)
        page.headers["Vary"] = "Accept"
        return page
    return JSONResponse(
        headers={"Vary": "Accept"},
        content={
            "service": "jobq",
            "links": {
                "jobs": "/jobs",
                "stats": "/stats",
                "openapi": "/openapi.json",
                "health": "/health",
                "ready": "/ready",
                "metrics": "/metrics",
            },
        },
    )


def _check_page_size(limit: int, most: int) -> None:
    if limit > most:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "limit"),
                    "type": "less_than_equal",
                    "msg": f"Input should be less than or equal to {most} (JOBQ_MAX_PAGE_SIZE)",
                }
            ]
        )


_CURSOR_PREFIX = "v1:"


def _encode(job_id: JobId) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{job_id}".encode()).decode().rstrip("=")


def _decode(cursor: str | None) -> JobId | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_CURSOR_PREFIX):
            raise ValueError(text)
        return parse_job_id(text.removeprefix(_CURSOR_PREFIX))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise RequestValidationError(
            [
                {
                    "loc": ("query", "cursor"),
                    "type": "value_error",
                    "msg": "not a cursor this server gave out (pass next_cursor of the last page)",
                }
            ]
        ) from None
