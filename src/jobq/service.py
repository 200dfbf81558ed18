"""Run ``jobq serve`` (HTTP API and worker pool) or ``jobq worker`` (pool only) until a signal.

Shutdown, on the first SIGINT or SIGTERM:
  1. stop the HTTP server: close the listener, finish requests in flight;
  2. stop claiming; hand buffered jobs that no worker started back to pending (attempt kept);
  3. wait up to ``shutdown_timeout`` for running jobs, then interrupt the rest and hand them
     back too (attempt kept);
  4. close the store; exit 0.
A second signal exits at once (status 128 + signal number); leases bring the jobs back.

The HTTP side (``serving.py``: FastAPI, uvicorn) is imported only by a process that serves HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from structlog.typing import FilteringBoundLogger

from jobq.config import Settings, is_loopback
from jobq.domain.errors import InvalidSchedule, JobqError, StoreUnavailable
from jobq.domain.schedule import Schedule
from jobq.jobqueue import JobQueue
from jobq.metrics import Metrics
from jobq.registry import Registry
from jobq.startup import Startup
from jobq.store.url import redact
from jobq.worker.config import PoolConfig
from jobq.worker.pool import WorkerPool

if TYPE_CHECKING:
    from jobq.serving import Serving

logger: FilteringBoundLogger = structlog.get_logger("jobq.service")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: seconds between attempts to reach the store at start-up: doubling from the first, at most
#: the second (each varied by up to 20 %, so a fleet's processes do not retry in step)
FIRST_STARTUP_BACKOFF, MAX_STARTUP_BACKOFF = 0.5, 10.0


def pool_config(settings: Settings) -> PoolConfig:
    return PoolConfig(
        worker_count=settings.worker_count,
        capacity=settings.queue_capacity,
        prefetch=settings.prefetch,
        lease_seconds=settings.lease_seconds,
        poll_interval=settings.poll_interval,
        queues=settings.queues,
        shutdown_timeout=settings.shutdown_timeout,
        prune_interval=settings.prune_interval,
    )


async def _exposed_without_token(settings: Settings, jq: JobQueue, *, http: bool) -> str | None:
    """Why this process must not start, if it would serve beyond loopback with no API token."""
    serves = http or settings.metrics_port is not None
    if not serves or settings.insecure or is_loopback(settings.host):
        return None
    if await jq.tokens.exist():
        return None
    what = "the API and dashboard" if http else "/metrics"
    return (
        f"refusing to serve {what} on {settings.host} with no API token: anyone who can reach "
        "the port could read and change every job. Create a token first (jobq tokens create "
        "--scope admin), or pass --insecure (JOBQ_INSECURE=true) if a proxy in front of jobq "
        "authenticates every request."
    )


def listen(host: str, port: int) -> socket.socket:
    """Bind before the pool or the server starts (after the store opened and the token guard
    passed), so a taken port is a clear error and port 0 works."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    made = socket.create_server((host, port), family=family, backlog=2048)
    # create_server leaves the protocol number 0, and asyncio turns Nagle's algorithm off
    # (TCP_NODELAY) only on accepted sockets that say TCP: without it, an answer written in two
    # parts waits for the client's delayed ACK, 40 ms on every keep-alive request.
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=made.detach())


@contextlib.contextmanager
def _signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()

    def first(signum: int) -> None:
        # The stop first, the log line after, and nothing a log line does may stop either.
        name = signal.Signals(signum).name
        if stop.is_set():
            try:
                logger.warning("shutdown_forced", signal=name)
            finally:
                os._exit(128 + signum)
        stop.set()
        with contextlib.suppress(Exception):
            logger.info("shutdown_requested", signal=name)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, first, signum)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _wait_first(
    stop: asyncio.Event, serving: asyncio.Task[None] | None, pool: WorkerPool | None
) -> None:
    """Wait for a stop request, the HTTP server ending on its own, or the pool failing."""
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
    if pool is not None:
        waiters.append(asyncio.create_task(pool.failed.wait()))
    watched = [*waiters]
    if serving is not None:
        watched.append(serving)
    try:
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def run_service(
    settings: Settings,
    registry: Registry,
    *,
    http: bool,
    stop: asyncio.Event | None = None,
    schedules: Sequence[Schedule] = (),
) -> int:
    """Run until ``stop`` is set or a signal arrives; return the exit status. ``schedules``:
    the periodic jobs the app declared in code, kept by this process's pool.

    The signal handlers go in first: a SIGTERM during start-up becomes an orderly stop as soon
    as start-up ends, instead of killing a process that may hold claimed jobs.
    """
    stop = stop or asyncio.Event()
    with _signals(stop):
        status = await _run(settings, registry, http=http, stop=stop, schedules=schedules)
    logger.info("shutdown_finished", exit_status=status)
    return status


async def _run(
    settings: Settings,
    registry: Registry,
    *,
    http: bool,
    stop: asyncio.Event,
    schedules: Sequence[Schedule],
) -> int:
    if http or settings.metrics_port is not None:
        # Only now, and before the store opens and the pool starts: importing FastAPI and
        # uvicorn holds up the event loop for a while.
        from jobq import serving
    metrics = Metrics()
    jq = JobQueue(
        settings.database_url,
        registry=registry,
        builtins=False,
        accept_unknown_types=settings.accept_unknown_types,
        metrics=metrics,
        postgres=settings.postgres_options(worker_process=not http),
        retain=settings.retain(),
    )
    try:
        for schedule in schedules:
            jq.schedules.declare(schedule)
    except InvalidSchedule as exc:  # a schedule of a type this process does not accept
        logger.error("startup_failed", error=str(exc))
        return EXIT_USAGE
    # The ports first: a taken port is a clear error at once, and /health and /ready answer
    # while the store is awaited (the starting app: nothing in it reads or changes a job).
    sock = metrics_sock = None
    try:
        if http:
            sock = _bind(settings.host, settings.port, "JOBQ_HOST, JOBQ_PORT")
        if settings.metrics_port is not None:
            metrics_sock = _bind(settings.host, settings.metrics_port, "JOBQ_METRICS_PORT")
    except OSError as exc:
        logger.error("startup_failed", error=str(exc))
        for bound in (sock, metrics_sock):
            if bound is not None:
                bound.close()
        return EXIT_FAILED
    startup = Startup()
    api: Serving | None = None
    scrapes: Serving | None = None
    if sock is not None:
        api = serving.serve_starting(sock, settings, startup, "http_listening")
    if metrics_sock is not None:
        scrapes = serving.serve_starting(metrics_sock, settings, startup, "metrics_listening")
    servers = [server for server in (api, scrapes) if server is not None]

    status = await _open_store(jq, settings, startup, stop, [s.url for s in servers])
    if status is None:
        # before the real app answers: never expose an open API beyond loopback, even for a
        # moment
        refusal = await _exposed_without_token(settings, jq, http=http)
        if refusal is not None:
            logger.error("startup_refused", reason=refusal)
            status = EXIT_USAGE
    if status is not None:
        for server in servers:
            await server.stop()
        await jq.close()
        return status
    logger.info(
        "store_opened",
        database_url=redact(settings.database_url),
        schema_version=jq.store.schema_version,
        job_types=registry.names(),
        attempts=startup.attempts,
    )

    pool: WorkerPool | None = None
    if settings.worker_count > 0:
        pool = jq.worker_pool(pool_config(settings))
        await pool.start()

    if api is not None:
        api.ready(serving.api_app(jq, pool, settings))
    if scrapes is not None:
        scrapes.ready(serving.metrics_app(jq, metrics, settings))

    await _wait_first(stop, None if api is None else api.task, pool)
    # One deadline for the whole stop: requests in flight and running jobs share the grace.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.shutdown_timeout
    logger.info("shutdown_started", grace_seconds=settings.shutdown_timeout)
    status = EXIT_OK
    if pool is not None and pool.failed.is_set():
        status = EXIT_FAILED
    if api is not None:
        if api.task.done() and api.task.exception() is not None:
            logger.error("http_failed", error=repr(api.task.exception()))
            status = EXIT_FAILED
        await api.stop()
    if pool is not None:
        await pool.stop(grace=max(0.0, deadline - loop.time()))
        jq.detach(pool)
    if scrapes is not None:
        await scrapes.stop()  # scrapes went on until the pool had stopped
    await jq.close()
    return status


async def _open_store(
    jq: JobQueue, settings: Settings, startup: Startup, stop: asyncio.Event, answering: list[str]
) -> int | None:
    """Open the store, trying again while it cannot be reached (connections refused, too many
    clients, a server starting up), with backoff up to ``MAX_STARTUP_BACKOFF`` seconds. None
    once it is open; the exit status if the process must end instead: 0 for a stop requested
    meanwhile, 1 for a failure no retry mends (no such file, a schema newer than this jobq).
    ``answering``: the URLs where /ready says why meanwhile (logged with each retry)."""
    delay = FIRST_STARTUP_BACKOFF
    while True:
        startup.attempts += 1
        try:
            await jq.open()
            return None
        except StoreUnavailable as exc:
            startup.error = str(exc)
            wait = delay * random.uniform(0.8, 1.2)
            logger.warning(
                "store_waiting",
                error=str(exc),
                attempt=startup.attempts,
                retry_in=round(wait, 2),
                database_url=redact(settings.database_url),
                ready_urls=answering,
            )
        except JobqError as exc:
            logger.error(
                "startup_failed", error=str(exc), database_url=redact(settings.database_url)
            )
            return EXIT_FAILED
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set():
            return EXIT_OK
        delay = min(delay * 2, MAX_STARTUP_BACKOFF)


def _bind(host: str, port: int, names: str) -> socket.socket:
    try:
        return listen(host, port)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port} ({names}): {exc}") from exc
