"""Operational endpoints, on the API and on a worker's own metrics port: liveness, readiness
(the store answers) and Prometheus metrics."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from jobq.api.errors import error_response
from jobq.domain.errors import StoreError
from jobq.jobqueue import JobQueue
from jobq.metrics import Metrics
from jobq.wire import ErrorBody

logger = structlog.get_logger("jobq.api")
router = APIRouter()


def jobqueue_of(request: Request) -> JobQueue:
    """The ``JobQueue`` the app was made for."""
    jq: JobQueue = request.app.state.jobqueue
    return jq


async def _jobqueue(request: Request) -> JobQueue:
    # async: FastAPI runs a plain ``def`` dependency in a thread, a hop per request
    return jobqueue_of(request)


JQ = Annotated[JobQueue, Depends(_jobqueue)]


@router.get("/health")
async def health() -> dict[str, str]:
    """The process is up (it says nothing of the store: see /ready)."""
    return {"status": "ok"}


@router.get("/ready", responses={503: {"model": ErrorBody, "description": "store unreachable"}})
async def ready(jq: JQ) -> Any:
    """The store answers. Open to anyone, as ``/health`` is (probes carry no token and name the
    pod's address): it says ready or not, and nothing of why; the log does (``not_ready``)."""
    try:
        await jq.ping()
    except StoreError as exc:
        logger.warning("not_ready", error=str(exc))
        return error_response(
            503,
            "not_ready",
            "the store does not answer; the process's log says why (not_ready)",
            headers={"Retry-After": "1"},
        )
    return {"status": "ready"}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request, jq: JQ) -> Response:
    """Prometheus text format; queue depth is read from the store now."""
    registry: Metrics = request.app.state.metrics
    # If the store is down the counters still tell their story; depth keeps its last reading.
    with contextlib.suppress(StoreError):
        registry.set_depth(await jq.counts())
        registry.set_waiting((t.type, t.waiting, t.unhandled) for t in await jq.waiting())
    return Response(registry.render(), media_type=CONTENT_TYPE_LATEST)
