"""Structured logs: one event name per line, with the ids that apply (job, worker, queue).

JSON lines when the log stream is not a terminal, readable colour when it is; the setting
``JOBQ_LOG_FORMAT`` overrides. Logs go to stderr, so stdout stays for command output.
Payloads and results are never logged.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

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


def configure_logging(level: str = "INFO", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor
    if use_json:
        shared.append(structlog.processors.format_exc_info)
        renderer = structlog.processors.JSONRenderer()
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
