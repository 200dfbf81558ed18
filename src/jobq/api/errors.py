"""Every error leaves the API as ``{"error": {"code", "message", "details"}}``; this module is the
one place that maps exceptions to status codes."""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from jobq.domain.errors import (
    IdempotencyConflict,
    IllegalTransition,
    InvalidJob,
    InvalidSchedule,
    InvalidWorkflow,
    JobNotFound,
    JobqError,
    JobTypeNotFound,
    ScheduleConflict,
    ScheduleNotFound,
    StoreError,
    StoreFull,
    StoreUnavailable,
    UnknownJobType,
    WorkflowNotFound,
)
from jobq.json_words import in_json_words
from jobq.wire import field_path

logger = structlog.get_logger("jobq.api")

RETRY_AFTER_SECONDS = 1

#: most specific first; the first class the error is an instance of decides
ERROR_STATUS: tuple[tuple[type[JobqError], int, str], ...] = (
    (JobNotFound, 404, "not_found"),
    (ScheduleNotFound, 404, "not_found"),
    (JobTypeNotFound, 404, "not_found"),
    (WorkflowNotFound, 404, "not_found"),
    (ScheduleConflict, 409, "schedule_conflict"),
    (InvalidSchedule, 422, "invalid_schedule"),
    (IllegalTransition, 409, "illegal_transition"),
    (IdempotencyConflict, 409, "idempotency_conflict"),
    (UnknownJobType, 422, "unknown_job_type"),
    (InvalidWorkflow, 422, "invalid_workflow"),
    (InvalidJob, 422, "invalid_job"),
    (StoreFull, 507, "storage_full"),
    (StoreUnavailable, 503, "store_unavailable"),
    (StoreError, 500, "store_error"),
)


class UnsupportedMediaType(Exception):
    """The request body is not JSON."""


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        reason = next(
            e.get("ctx", {}).get("error", "") for e in errors if e["type"] == "json_invalid"
        )
        return error_response(400, "invalid_json", f"the request body is not valid JSON: {reason}")
    details = [
        {"field": field_path(error["loc"]), "message": in_json_words(error)} for error in errors
    ]
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    if len(details) > 5:
        summary += f"; and {len(details) - 5} more"
    return error_response(422, "validation_error", summary, details)


def store_error_status(exc: JobqError) -> tuple[int, str]:
    """The status and code the API answers ``exc`` with."""
    return next(
        ((status, code) for cls, status, code in ERROR_STATUS if isinstance(exc, cls)),
        (500, "internal_error"),
    )


async def _jobq_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JobqError)
    status, code = store_error_status(exc)
    details: Any = None
    headers = None
    if isinstance(exc, IllegalTransition) and exc.state is not None:
        details = {"state": exc.state}
    if isinstance(exc, InvalidSchedule):  # as a validation error names its field
        details = [{"field": exc.field, "message": str(exc)}]
    if isinstance(exc, InvalidJob) and exc.problems:  # a payload that does not fit its schema
        details = [{"field": p.field, "message": p.message} for p in exc.problems]
    if isinstance(exc, StoreUnavailable):  # 503, or 507 (full): it may pass; come back later
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if status == 503:  # the store is away for a while: the client is told to come back
        logger.warning("request_failed", path=request.url.path, error=str(exc), code=code)
    elif status >= 500:
        logger.error("request_failed", path=request.url.path, error=str(exc), code=code)
    return error_response(status, code, str(exc), details, headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    phrase = HTTPStatus(exc.status_code).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    message = (
        exc.detail
        if isinstance(exc.detail, str) and exc.detail != phrase
        else {
            404: f"no route {request.method} {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(exc.status_code, phrase)
    )
    headers = None if exc.headers is None else dict(exc.headers)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, code, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the API's schema gives this path (the router names only the first route it
    tried)."""
    paths: list[tuple[re.Pattern[str], set[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if paths is None:
        paths = [
            (compile_path(path)[0], {method.upper() for method in item})
            for path, item in request.app.openapi()["paths"].items()
        ]
        request.app.state.allowed_methods = paths
    matching = [(pattern, given) for pattern, given in paths if pattern.match(request.url.path)]
    # a fixed path (/jobs/batch) wins over a template that also fits it (/jobs/{job_id})
    fixed = [given for pattern, given in matching if "(?P<" not in pattern.pattern]
    methods: set[str] = set().union(*(fixed or [given for _, given in matching]))
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _media_type(request: Request, exc: Exception) -> JSONResponse:
    got = request.headers.get("content-type", "none")
    return error_response(
        415,
        "unsupported_media_type",
        f"the body must be JSON (Content-Type: application/json), not {got}",
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("request_crashed", path=request.url.path)
    return error_response(500, "internal_error", "the server failed; see its log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(JobqError, _jobq_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UnsupportedMediaType, _media_type)
    app.add_exception_handler(Exception, _unexpected)
