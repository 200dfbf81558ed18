"""What every command shares: settings from flags and environment, the user's handlers, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import click

from jobq.builtin_jobs import HttpRequest, builtin_registry, is_builtin_http_request
from jobq.config import FLAG_NAMES, LoadedSettings, load_settings
from jobq.domain.errors import ConfigError, JobqError
from jobq.jobqueue import JobQueue
from jobq.logs import configure_logging
from jobq.registry import Registry

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILURE, EXIT_USAGE = 1, 2


def fail(message: str, status: int = EXIT_FAILURE) -> NoReturn:
    for line in message.splitlines() or [""]:
        click.echo(f"jobq: error: {line}", err=True)
    sys.exit(status)


def setting_option(name: str, help: str, **extra: Any) -> Callable[[F], F]:
    """A flag for setting ``name``, taken as text: the settings loader checks every value, from
    a flag or the environment, the same way."""
    flag = FLAG_NAMES[name]
    env = f"JOBQ_{name.upper()}"
    return click.option(flag, name, default=None, help=f"{help} [env: {env}]", **extra)


def store_options(fn: F) -> F:
    for option in reversed(
        (
            setting_option(
                "database_url",
                "Database URL: sqlite:///jobq.db or postgresql://user@host/db.",
                metavar="URL",
            ),
            setting_option(
                "db_pool_size",
                "PostgreSQL: pooled connections at most, beside the LISTEN one (auto: 0 for "
                "`jobq worker`, 4 elsewhere).",
                metavar="N|auto",
            ),
            setting_option(
                "db_connect_timeout",
                "PostgreSQL: seconds to wait for a connection (5).",
                metavar="S",
            ),
            setting_option(
                "db_statement_timeout",
                "PostgreSQL: seconds one statement may run (30).",
                metavar="S",
            ),
            setting_option(
                "db_pooler",
                "PostgreSQL: none, or transaction (behind PgBouncer pool_mode=transaction).",
                metavar="MODE",
            ),
            setting_option(
                "notify",
                "PostgreSQL: listen (wake at once) or poll (no LISTEN connection).",
                metavar="MODE",
            ),
            setting_option(
                "listen_url",
                "PostgreSQL: URL of the LISTEN connection, straight to the server.",
                metavar="URL",
            ),
            setting_option(
                "app",
                "Your handlers: module:attribute of a JobQueue or Registry.",
                metavar="MODULE:ATTR",
            ),
            setting_option("log_level", "DEBUG, INFO, WARNING or ERROR.", metavar="LEVEL"),
            setting_option("log_format", "auto, json or console.", metavar="FORMAT"),
            setting_option(
                "accept_unknown_types",
                "Accept job types no handler here knows.",
                is_flag=True,
                flag_value="true",
            ),
        )
    ):
        fn = option(fn)
    return fn


def pool_options(fn: F) -> F:
    for option in reversed(
        (
            setting_option("worker_count", "Concurrent workers (default 10).", metavar="N"),
            setting_option(
                "queue_capacity", "Claimed jobs waiting for a worker, at most (100).", metavar="N"
            ),
            setting_option(
                "prefetch",
                "Jobs claimed beyond the free workers: auto (measured) or a number.",
                metavar="N",
            ),
            setting_option(
                "shutdown_timeout", "Seconds running jobs get to finish (30).", metavar="S"
            ),
            setting_option(
                "lease_seconds", "Seconds a claim lasts without a heartbeat (30).", metavar="S"
            ),
            setting_option("poll_interval", "Seconds between claims when idle (1).", metavar="S"),
            setting_option(
                "queues", "Comma-separated queues to work on (default: all).", metavar="Q1,Q2"
            ),
        )
    ):
        fn = option(fn)
    return fn


def settings_from(flags: dict[str, Any], *, one_shot: bool = False) -> LoadedSettings:
    """The settings, or exit 2 naming the bad ones. ``one_shot`` commands (enqueue, jobs,
    stats, migrate) log only warnings unless a log level was asked for: their output is the
    answer, not a stream of events."""
    try:
        loaded = load_settings(os.environ, flags)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    level = loaded.settings.log_level
    if one_shot and loaded.sources["log_level"] == "default":
        level = "WARNING"
    configure_logging(level, loaded.settings.log_format)
    return loaded


def load_registry(loaded: LoadedSettings, *, serves_api: bool = False) -> Registry:
    """The built-in job types plus the handlers that the ``app`` setting names.

    The built-in ``http.request`` handler calls only the hosts ``JOBQ_HTTP_ALLOW`` allows
    (``Settings.http_allowlist(serves_api)``: unset, any host only for ``jobq serve`` on
    loopback), wherever it is registered: among the built-ins here, in an
    app's ``JobQueue`` that registered the built-ins itself, or under another name. A handler
    the app wrote itself, registered as ``http.request`` or otherwise, is the app's and is kept
    as it is.
    """
    http = _http_request_handler(loaded, serves_api=serves_api)
    app = loaded.settings.app
    if app is None:
        return _builtins(http)
    label = loaded.sources["app"].split(" ", 1)[-1]
    module_name, _, attribute = app.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` would: your modules are found here
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as exc:  # the user's module failed to import, or lacks the attribute
        fail(f"invalid setting {label}={app!r}: {type(exc).__name__}: {exc}", EXIT_USAGE)
    if isinstance(target, JobQueue):
        return _with_http_request(target.registry, http)
    if isinstance(target, Registry):
        registry = _builtins(http)
        for job_type in target:
            if job_type.name in registry:
                registry = _without(registry, job_type.name)
            registry.add(job_type)
        return _with_http_request(registry, http)
    fail(
        f"invalid setting {label}={app!r}: that is a {type(target).__name__}, "
        "not a jobq.JobQueue or jobq.Registry",
        EXIT_USAGE,
    )


def _http_request_handler(loaded: LoadedSettings, *, serves_api: bool) -> HttpRequest:
    """The ``http.request`` handler bound to the ``http_allow`` setting, or exit 2 naming it."""
    try:
        return HttpRequest(loaded.settings.http_allowlist(serves_api=serves_api))
    except ValueError as exc:
        source = loaded.sources.get("http_allow", "default")
        label = source.split(" ", 1)[-1] if " " in source else "JOBQ_HTTP_ALLOW"
        value = ",".join(loaded.settings.http_allow or ())
        fail(f"invalid setting {label}={value!r}: {exc}", EXIT_USAGE)


def _builtins(http: HttpRequest) -> Registry:
    return _with_http_request(builtin_registry(), http)


def _with_http_request(registry: Registry, http: HttpRequest) -> Registry:
    """The types of ``registry``, with every built-in ``http.request`` handler, under whatever
    name and bound to whatever hosts, replaced by ``http``; the options it was registered with
    (attempts, timeout, backoff) are kept. ``registry`` itself is left as it is."""
    rebuilt = Registry()
    for job_type in registry:
        if is_builtin_http_request(job_type.handler):
            job_type = dataclasses.replace(job_type, handler=http)
        rebuilt.add(job_type)
    return rebuilt


def _without(registry: Registry, name: str) -> Registry:
    kept = Registry()
    for job_type in registry:
        if job_type.name != name:
            kept.add(job_type)
    return kept


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def open_queue(flags: dict[str, Any]) -> JobQueue:
    """The ``JobQueue`` of a one-shot command (enqueue, jobs, stats, top), from its flags."""
    loaded = settings_from(flags, one_shot=True)
    return JobQueue(
        loaded.settings.database_url,
        registry=load_registry(loaded),
        builtins=False,
        accept_unknown_types=loaded.settings.accept_unknown_types,
        postgres=loaded.settings.postgres_options(),
    )


def guard(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; known failures become a message and exit status 1."""
    try:
        status: int = run(coro)
    except JobqError as exc:  # an unknown id, a refused state change, a store error
        fail(str(exc))
    return status
