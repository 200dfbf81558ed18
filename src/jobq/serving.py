"""The HTTP side of ``jobq serve`` and of ``--metrics-port``: the apps built from the settings,
each served by uvicorn on a socket bound beforehand.

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

from jobq.api.app import create_app, create_metrics_app
from jobq.api.auth import AccessPolicy
from jobq.api.http_server import server_config
from jobq.api.limits import Limits
from jobq.config import Settings
from jobq.jobqueue import JobQueue
from jobq.metrics import Metrics
from jobq.worker.pool import WorkerPool

# the service's logger: its events are the service's, wherever the code that logs them lives
logger: FilteringBoundLogger = structlog.get_logger("jobq.service")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ``service.py`` decides the shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(frozen=True, slots=True)
class Serving:
    """One server answering on its socket, and the task that runs it."""

    server: uvicorn.Server
    task: asyncio.Task[None]

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


def serve_api(
    jq: JobQueue, pool: WorkerPool | None, settings: Settings, sock: socket.socket
) -> Serving:
    """The API and the dashboard on ``sock``."""
    app = create_app(
        jq,
        pool=pool,
        limits=limits(settings),
        allowed_hosts=settings.host_allowlist(),
        access=access(settings),
    )
    return _serve(app, sock, settings, "http_listening")


def serve_metrics(
    jq: JobQueue, metrics: Metrics, settings: Settings, sock: socket.socket
) -> Serving:
    """``/metrics``, ``/health`` and ``/ready`` alone on ``sock``."""
    app = create_metrics_app(jq, metrics, settings.host_allowlist(), access=access(settings))
    return _serve(app, sock, settings, "metrics_listening")


def _serve(app: Any, sock: socket.socket, settings: Settings, event: str) -> Serving:
    server = _Server(
        server_config(
            app,
            max_header_bytes=settings.max_header_bytes,
            graceful_seconds=max(1, int(settings.shutdown_timeout)),
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    logger.info(event, host=host, port=port, url=f"http://{host}:{port}")
    return Serving(server, task)
