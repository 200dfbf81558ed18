"""The app factory. The caller owns the ``JobQueue`` (and its store) and any worker pool:
``jobq serve`` opens them before the server starts and closes them after it stops."""

from __future__ import annotations

from collections.abc import Collection

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from jobq import __version__
from jobq.api import openapi, ops, queues, schedules, types, workflows
from jobq.api.auth import AccessPolicy, Authenticator, RequireToken
from jobq.api.errors import error_response, install_error_handlers
from jobq.api.limits import Limits, RequestLimits
from jobq.api.origin import SameOriginWrites
from jobq.api.routes import router
from jobq.dashboard import mount_dashboard
from jobq.jobqueue import JobQueue
from jobq.metrics import Metrics
from jobq.startup import Startup
from jobq.worker.pool import WorkerPool


def create_app(
    jq: JobQueue,
    *,
    pool: WorkerPool | None = None,
    limits: Limits | None = None,
    allowed_hosts: Collection[str] | None = None,
    access: AccessPolicy | None = None,
) -> FastAPI:
    """The API and the dashboard. ``limits``: what a request may send (default: ``Limits()``);
    ``allowed_hosts``: the names requests may give in Host (None: any), against DNS rebinding;
    ``access``: who may do what once API tokens exist (see ``api/auth.py``)."""
    limits = limits or Limits()
    app = FastAPI(
        title="jobq",
        version=__version__,
        description="Submit background jobs and see them through.",
        docs_url=None,  # the interactive pages load scripts from a CDN; jobq runs offline
        redoc_url=None,
        openapi_url=None,  # served by openapi.install: it reads the published types first
    )
    app.state.jobqueue = jq
    app.state.pool = pool
    app.state.limits = limits
    access = access or AccessPolicy()
    app.state.authenticator = Authenticator(lambda: jq.tokens, session_key=access.session_key)
    if jq.metrics is None:
        jq.metrics = Metrics()
    app.state.metrics = jq.metrics
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(schedules.router)
    app.include_router(queues.router)
    app.include_router(types.router)
    app.include_router(workflows.router)
    app.include_router(ops.router)
    mount_dashboard(app)
    openapi.install(app, limits, access, jq.catalog.schemas, jq.catalog.refresh)
    app.add_middleware(RequestLimits, limits=limits)
    # before the body is read: who is asking, and may they
    app.add_middleware(RequireToken, authenticator=app.state.authenticator, policy=access)
    # outermost: a foreign Host or a cross-site write is refused before anything runs
    app.add_middleware(SameOriginWrites, allowed_hosts=allowed_hosts)
    return app


def create_metrics_app(
    jq: JobQueue,
    metrics: Metrics,
    allowed_hosts: Collection[str] | None = None,
    access: AccessPolicy | None = None,
) -> FastAPI:
    """``/metrics``, ``/health`` and ``/ready`` alone: for ``jobq worker --metrics-port``."""
    app = FastAPI(
        title="jobq metrics", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.jobqueue = jq
    app.state.metrics = metrics
    install_error_handlers(app)
    app.include_router(ops.router)
    app.add_middleware(
        RequireToken,
        authenticator=Authenticator(lambda: jq.tokens),
        policy=access or AccessPolicy(),
    )
    app.add_middleware(SameOriginWrites, allowed_hosts=allowed_hosts)
    return app


def create_starting_app(startup: Startup, allowed_hosts: Collection[str] | None = None) -> FastAPI:
    """What a process answers while it waits for its store at start-up: ``/health`` 200 (it is
    alive), ``/ready`` and everything else 503 with ``Retry-After``, saying why. No route reads
    or changes anything, so nothing needs a token yet."""
    app = FastAPI(
        title="jobq (starting)",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def starting(path: str) -> JSONResponse:
        code = "not_ready" if path == "ready" else "store_unavailable"
        return error_response(503, code, startup.reason(), headers={"Retry-After": "1"})

    app.add_middleware(SameOriginWrites, allowed_hosts=allowed_hosts)
    return app
