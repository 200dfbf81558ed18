"""The HTTP side of ``jobq serve`` and of ``--metrics-port``: the apps built from the settings,
each served by uvicorn on a socket bound beforehand. A server answers from the start: with the
starting app (``/health`` 200, ``/ready`` 503 saying why) while the process waits for its
store, then with the real one.

``service.py`` imports this module only in a process that serves HTTP, so a worker without a
metrics port (and ``import jobq``) never loads FastAPI, Starlette or uvicorn. When to stop each
server is ``service.py``'s to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import structlog
import uvicorn
from structlog.typing import FilteringBoundLogger

from jobq.api.app import create_app, create_metrics_app, create_starting_app
from jobq.api.auth import AccessPolicy
from jobq.api.http_server import server_config
from jobq.api.limits import Limits
from jobq.config import Settings
from jobq.jobqueue import JobQueue
from jobq.metrics import Metrics
from jobq.startup import Startup
from jobq.worker.pool import WorkerPool

# the service's logger: its events are the service's, wherever the code that logs them lives
logger: FilteringBoundLogger = structlog.get_logger("jobq.service")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``service.py`` decides the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Switch:
    """The app a server runs: the starting app until start-up is over, then the real one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


@dataclass(frozen=True, slots=True)
class Serving:
    """One server answering on its socket, and the task that runs it."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    switch: Switch
    host: str
    port: int
    #: logged when the real app answers: ``http_listening`` or ``metrics_listening``
    event: str

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ready(self, app: Any) -> None:
        """Start-up is over: requests from now on go to ``app``."""
        self.switch.app = app
        logger.info(self.event, host=self.host, port=self.port, url=self.url)

    async def stop(self) -> None:
        """Close the listener and let requests in flight finish (within uvicorn's grace)."""
        self.server.should_exit = True
        with contextlib.suppress(Exception, SystemExit):
            await self.task


def limits(settings: Settings) -> Limits:
    return Limits(
        max_body_bytes=settings.max_body_bytes,
        max_json_depth=settings.max_json_depth,
        max_page_size=settings.max_page_size,
        max_header_bytes=settings.max_header_bytes,
        read_timeout=settings.read_timeout,
    )


def access(settings: Settings) -> AccessPolicy:
    key = settings.session_key
    return AccessPolicy(
        metrics_public=settings.metrics_public,
        rate_limit=settings.rate_limit,
        session_key=None if key is None else key.get_secret_value().encode(),
    )


def serve_starting(
    sock: socket.socket, settings: Settings, startup: Startup, event: str
) -> Serving:
    """Answer on ``sock`` while the process starts (``/health`` 200, the rest 503 saying why);
    ``Serving.ready`` puts the real app in place and logs ``event``."""
    return _serve(create_starting_app(startup, settings.host_allowlist()), sock, settings, event)


def api_app(jq: JobQueue, pool: WorkerPool | None, settings: Settings) -> Any:
    """The API and the dashboard."""
    return create_app(
        jq,
        pool=pool,
        limits=limits(settings),
        allowed_hosts=settings.host_allowlist(),
        access=access(settings),
    )


def metrics_app(jq: JobQueue, metrics: Metrics, settings: Settings) -> Any:
    """``/metrics``, ``/health`` and ``/ready`` alone."""
    return create_metrics_app(jq, metrics, settings.host_allowlist(), access=access(settings))


def _serve(app: Any, sock: socket.socket, settings: Settings, event: str) -> Serving:
    switch = Switch(app)
    server = _Server(
        server_config(
            switch,
            max_header_bytes=settings.max_header_bytes,
            graceful_seconds=max(1, int(settings.shutdown_timeout)),
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    return Serving(server, task, switch, host, port, event)
