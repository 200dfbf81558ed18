"""Structured logs: one event name per line, with the ids that apply (job, worker, queue).

The ``jobq`` command (``configure_logging``): JSON lines when the log stream is not a terminal,
readable colour when it is; the setting ``JOBQ_LOG_FORMAT`` overrides. Logs go to stderr, so
stdout stays for command output. Used as a library (``route_to_logging``, at import, unless the
application configured structlog itself), jobq logs through the standard ``logging`` tree, under
the names ``jobq.*``: the application's logging configuration decides what is shown and where.
Payloads and results are never logged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from typing import TextIO, cast

import structlog

_LEVELS = {
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}


#: the event name of every line a library (uvicorn, psycopg, asyncio) logs; its text goes in
#: ``message``, on one line
LIBRARY_EVENT = "library_log"


def _library_record(
    logger: object, method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    """A standard-library record as a jobq line: a documented event name, the text apart."""
    text = str(event.get("event", ""))
    event["message"] = " ".join(part.strip() for part in text.splitlines() if part.strip())
    event["event"] = LIBRARY_EVENT
    return event


class Outlet:
    """The log stream, made harmless once nobody reads it: a line that cannot be written (the
    pipe's reader is gone, the terminal hung up, the disk is full) is dropped, and the stream's
    file descriptor is pointed at ``/dev/null`` so that nothing written to it later, the
    interpreter's last flush included, fails either. Logging never raises into the code that
    logs: a signal handler, a worker finishing a job, a shutdown."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                self._stream.write(text)
            except (OSError, ValueError):  # EPIPE, EIO, ENOSPC; ValueError: closed
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()

    def isatty(self) -> bool:
        try:
            return self._stream.isatty()
        except (OSError, ValueError):
            return False

    def _lose(self) -> None:
        self.lost = True
        silence(self._stream)


def silence(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null and drop what its buffer holds: its
    reader is gone, and a later write or the interpreter's last flush must not fail."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
    with contextlib.suppress(OSError, ValueError):
        stream.flush()  # what was buffered now goes to /dev/null


#: one encoder for every line (``json.dumps`` with ``default=`` builds one per call); what JSON
#: has no form for is written as its ``repr``, as structlog's own fallback does
_LINE_ENCODER = json.JSONEncoder(default=repr)


def _render_json(event: structlog.typing.EventDict, **_: object) -> str:
    return _LINE_ENCODER.encode(event)


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = cast(TextIO, Outlet(stream or sys.stderr))
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if use_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer(serializer=_render_json)
    else:
        # tracebacks without local variables: they may hold tokens, keys and payloads
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (uvicorn, asyncio) log through the standard library: same format, same stream.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, _library_record, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def route_to_logging() -> None:
    """Library use: every jobq event becomes a record of the standard ``logging`` logger it
    names (``jobq.worker``, ``jobq.store``, ...), its message ``event=job_started job_id=...``.
    A level the application does not enable costs one ``isEnabledFor``; with no logging
    configured at all, Python's last-resort handler shows warnings and errors on stderr."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.filter_by_level,
            _as_record,
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


_RECORD_KEYS = ("exc_info", "stack_info")


def _as_record(
    logger: object, method: str, event: structlog.typing.EventDict
) -> tuple[tuple[str], dict[str, object]]:
    """The event as one logfmt line, and the traceback (``logger.exception``) as the record's."""
    kwargs = {key: event.pop(key) for key in _RECORD_KEYS if key in event}
    if method == "exception":
        kwargs.setdefault("exc_info", True)
    return (_LOGFMT(logger, method, event),), kwargs


_LOGFMT = structlog.processors.LogfmtRenderer(key_order=["event"], bool_as_flag=False)
