"""What every command shares: settings from flags and environment, the user's handlers, errors."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from jobq.builtin_jobs import HttpRequest, builtin_registry, is_builtin_http_request
from jobq.cli.exits import EXIT_FAILURE, EXIT_USAGE
from jobq.config import FLAG_NAMES, LoadedSettings, load_settings
from jobq.domain.errors import ConfigError, InvalidSchedule, JobqError
from jobq.domain.schedule import Schedule
from jobq.jobqueue import JobQueue
from jobq.logs import configure_logging
from jobq.registry import Registry
from jobq.store.url import parse_database_url, redact

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    def apply(fn: F) -> F:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


#: what every command that opens the store takes: where it is, how to reach it, how to log
database_options = _options(
    setting_option(
        "database_url",
        "Database URL: sqlite:///jobq.db or postgresql://user@host/db.",
        metavar="URL",
    ),
    setting_option(
        "db_connect_timeout", "PostgreSQL: seconds to wait for a connection (5).", metavar="S"
    ),
    setting_option(
        "db_statement_timeout", "PostgreSQL: seconds one statement may run (30).", metavar="S"
    ),
    setting_option(
        "db_pooler",
        "PostgreSQL: none, or transaction (behind PgBouncer pool_mode=transaction).",
        metavar="MODE",
    ),
    setting_option("log_level", "DEBUG, INFO, WARNING or ERROR.", metavar="LEVEL"),
    setting_option("log_format", "auto, json or console.", metavar="FORMAT"),
)

#: what a long-running process (serve, worker) takes besides: its connections and wake-ups
connection_options = _options(
    setting_option(
        "db_pool_size",
        "PostgreSQL: pooled connections at most, beside the LISTEN one (auto: 0 for "
        "`jobq worker`, 4 elsewhere).",
        metavar="N|auto",
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
)

#: what a command that runs or enqueues jobs takes: your handlers
app_options = _options(
    setting_option(
        "app", "Your handlers: module:attribute of a JobQueue or Registry.", metavar="MODULE:ATTR"
    ),
    setting_option(
        "accept_unknown_types",
        "Accept job types no handler here knows.",
        is_flag=True,
        flag_value="true",
    ),
)


def store_options(fn: F) -> F:
    """Every setting a store-opening command may take (``serve``, ``worker``, ``config``)."""
    return database_options(connection_options(app_options(fn)))


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
    loaded = with_app_database(loaded)
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
    target = import_app(loaded)
    if target is None:
        return _builtins(http)
    if isinstance(target, JobQueue):
        return _with_http_request(target.registry, http)
    registry = _builtins(http)
    for job_type in target:
        if job_type.name in registry:
            registry = _without(registry, job_type.name)
        registry.add(job_type)
    return _with_http_request(registry, http)


def app_schedules(loaded: LoadedSettings) -> list[Schedule]:
    """The schedules declared in the code of the app the ``app`` setting names (a ``JobQueue``;
    a ``Registry`` has none)."""
    target = import_app(loaded)  # imported once: the module is cached
    return list(target.schedules) if isinstance(target, JobQueue) else []


def import_app(loaded: LoadedSettings) -> JobQueue | Registry | None:
    """The ``JobQueue`` or ``Registry`` that the ``app`` setting (``module:attribute``) names,
    imported from the working directory and the Python path; None without the setting.

    A module that cannot be found, or lacks the attribute, is a bad setting (exit 2). A module
    that raises while it is imported is the app's own bug: its traceback is shown, from the
    app's own files, and the command fails (exit 1).
    """
    app = loaded.settings.app
    if app is None:
        return None
    label = f"{_label(loaded, 'app')}={app!r}"
    module_name, _, attribute = app.partition(":")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)  # as `python -m` would: your modules are found here
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            fail(
                f"invalid setting {label}: no module named {missing!r} in the working "
                f"directory ({cwd}) or on the Python path",
                EXIT_USAGE,
            )
        _app_raised(exc, module_name, label)
    except Exception as exc:
        _app_raised(exc, module_name, label)
    try:
        for part in attribute.split("."):
            target = getattr(target, part)
    except AttributeError:
        fail(
            f"invalid setting {label}: module {module_name!r} has no {attribute!r}; "
            "name the JobQueue or Registry as module:attribute",
            EXIT_USAGE,
        )
    if isinstance(target, JobQueue | Registry):
        return target
    fail(
        f"invalid setting {label}: that is a {type(target).__name__}, "
        "not a jobq.JobQueue or jobq.Registry",
        EXIT_USAGE,
    )


def _app_raised(exc: BaseException, module_name: str, label: str) -> NoReturn:
    """The app's module raised while it was imported: its traceback, without the frames of
    Python's import machinery, then exit 1."""
    shown = traceback.TracebackException.from_exception(exc)
    machinery = (str(Path(importlib.__file__).parent), str(Path(__file__).parent), "<frozen ")
    shown.stack = traceback.StackSummary.from_list(
        [frame for frame in shown.stack if not frame.filename.startswith(machinery)]
    )
    sys.stderr.write("".join(shown.format()))
    fail(
        f"the app module {module_name!r} ({label}) raised {type(exc).__name__} while it was "
        "imported: the traceback above is from your code",
        EXIT_FAILURE,
    )


def _label(loaded: LoadedSettings, name: str) -> str:
    """How the user gave setting ``name``: ``--app``, ``JOBQ_APP``."""
    source = loaded.sources.get(name, "default")
    return source.split(" ", 1)[1] if " " in source else f"JOBQ_{name.upper()}"


def with_app_database(loaded: LoadedSettings) -> LoadedSettings:
    """The settings, with the database the app's ``JobQueue`` names when no setting names one;
    exit 2 when a setting names another database than the app does."""
    target = import_app(loaded)
    if not isinstance(target, JobQueue) or target.named_database_url is None:
        return loaded
    url = target.named_database_url
    app = f"the app's JobQueue ({_label(loaded, 'app')}={loaded.settings.app})"
    try:
        parse_database_url(url)
    except ValueError as exc:
        fail(f"{app} names an invalid database URL {redact(url)!r}: {exc}", EXIT_USAGE)
    if loaded.sources["database_url"] == "default":
        settings = loaded.settings.model_copy(update={"database_url": url})
        return LoadedSettings(
            settings, {**loaded.sources, "database_url": f"app {loaded.settings.app}"}
        )
    if url != loaded.settings.database_url:
        fail(
            f"invalid setting {_label(loaded, 'database_url')}="
            f"{redact(loaded.settings.database_url)!r}: {app} names another database, "
            f"{redact(url)!r}; remove one of the two, or make them the same",
            EXIT_USAGE,
        )
    return loaded


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


def json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` as a JSON object, or exit 2 saying what is wrong with ``what``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc}", EXIT_USAGE)
    if not isinstance(value, dict):
        fail(f"{what} must be a JSON object, not {type(value).__name__}", EXIT_USAGE)
    return value


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def open_queue(
    flags: dict[str, Any], *, existing: bool = False, with_schedules: bool = False
) -> JobQueue:
    """The ``JobQueue`` of a one-shot command (enqueue, jobs, stats, top), from its flags.
    ``existing``: the command only looks at (or changes) jobs already there, so it creates and
    migrates no database; a missing one fails naming where it was looked for.
    ``with_schedules``: with the schedules the app declares in code."""
    loaded = settings_from(flags, one_shot=True)
    jq = JobQueue(
        loaded.settings.database_url,
        registry=load_registry(loaded),
        builtins=False,
        accept_unknown_types=loaded.settings.accept_unknown_types,
        postgres=loaded.settings.postgres_options(),
        migrate=not existing,
        retain=loaded.settings.retain(),
    )
    if with_schedules:
        try:
            for schedule in app_schedules(loaded):
                jq.schedules.declare(schedule)
        except InvalidSchedule as exc:
            fail(str(exc), EXIT_USAGE)
    return jq


def guard(coro: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine; known failures become a message and exit status 1."""
    try:
        status: int = run(coro)
    except JobqError as exc:  # an unknown id, a refused state change, a store error
        fail(str(exc))
    return status


def with_queue(flags: dict[str, Any], action: Callable[[JobQueue], Awaitable[int]]) -> int:
    """Run ``action`` on the queue the settings name (an existing database); exit 1 on a
    store error."""
    jq = open_queue(flags, existing=True)

    async def go() -> int:
        async with jq:
            return await action(jq)

    return guard(go())
