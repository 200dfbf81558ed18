"""What the API reads of a request, at most: refused with a JSON error before the app runs.

- a body larger than ``max_body_bytes``: 413;
- a body that has not fully arrived ``read_timeout`` seconds after the request began (a client
  trickling bytes to hold a connection): 408;
- a JSON body the parser after us would take without a word: bytes that are not UTF-8, a string
  escape that is not Unicode (a lone surrogate, ``"\\ud800"``), a key given twice in one object,
  NaN or Infinity, a number no JSON parser holds, nesting deeper than ``max_json_depth``: 400
  ``invalid_json``.
- a request line and headers larger than ``max_header_bytes``: 431 (headers that never end
  are cut off by the HTTP protocol itself, ``http_server``).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobq.api.json_body import is_json_media
from jobq.domain.jsonvalues import MAX_DEPTH, depth, not_unicode, unicode_problem
from jobq.domain.paging import MAX_PAGE

# Past the limit the rest of the body is still read (and dropped), up to this many bytes, so the
# client, which sends its whole body before it reads the answer, gets the 413 instead of a
# connection reset. A larger body is cut off.
DRAIN_MAX = 64 * 1024 * 1024

#: the longest integer a body may hold: reading a longer one costs time that grows with the square
#: of its length (Python's own limit is 4,300 digits)
MAX_INT_DIGITS = 100

# The escape of a surrogate code point (U+D800 to U+DFFF). A body without one cannot hold a string
# that is not Unicode (UTF-8 bytes of a surrogate are refused as not UTF-8), so only a body with
# one is walked.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True, slots=True)
class Limits:
    """The API's limits on what a client sends (settings ``JOBQ_MAX_*``, ``JOBQ_READ_TIMEOUT``)."""

    max_body_bytes: int = 262_144
    max_json_depth: int = MAX_DEPTH
    max_page_size: int = MAX_PAGE
    max_header_bytes: int = 16_384
    read_timeout: float = 10.0


class RequestLimits:
    """Read the whole body (within the limits) before the app runs; refuse what breaks them."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _head_size(scope) > self.limits.max_header_bytes:
            await refuse(
                send,
                431,
                "headers_too_large",
                f"the request line and headers are larger than {self.limits.max_header_bytes} "
                "bytes (JOBQ_MAX_HEADER_BYTES)",
            )
            return
        max_bytes = self.limits.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await refuse(
                    send, 400, "invalid_content_length", "the Content-Length header is not a number"
                )
                return
            if int(declared) > max_bytes:
                if int(declared) <= DRAIN_MAX and not _expects_continue(scope):
                    await _drain(receive)
                await self._too_large(send)
                return
        try:
            async with asyncio.timeout(self.limits.read_timeout):
                body = await self._read(receive, send)
        except TimeoutError:
            await refuse(
                send,
                408,
                "request_timeout",
                f"the request body did not arrive within {self.limits.read_timeout:g} s "
                "(JOBQ_READ_TIMEOUT)",
            )
            return
        if body is None:
            return  # answered already, or the client went away
        replayed = False
        if body and scope["method"] in ("POST", "PUT", "PATCH") and _is_json(scope):
            problem = json_problem(body, max_depth=self.limits.max_json_depth)
            if problem is not None:
                await refuse(send, 400, "invalid_json", problem)
                return

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive: Receive, send: Send) -> bytes | None:
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None  # the client went away; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                if message.get("more_body", False):
                    await _drain(receive, size)
                await self._too_large(send)
                return None
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await refuse(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than {self.limits.max_body_bytes} bytes "
            "(JOBQ_MAX_BODY_BYTES)",
        )


def _head_size(scope: Scope) -> int:
    """About the size of the request line and headers on the wire."""
    line = len(scope["method"]) + len(scope.get("raw_path") or b"") + len(scope["query_string"])
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"])


def _is_json(scope: Scope) -> bool:
    """Whether the body is JSON as the routes take it: ``application/json`` or ``*/*+json``."""
    content_type: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return is_json_media(content_type.decode("latin-1"))


def json_problem(body: bytes, *, max_depth: int = MAX_DEPTH) -> str | None:
    """What is wrong with a JSON body that the parser after us would take without a word:
    bytes that are not UTF-8, a string that is not Unicode (a lone surrogate escaped, which no
    store can hold), a key given twice in one object (which value would count?), NaN or
    Infinity (not JSON), a number beyond what JSON parsers hold, nesting past ``max_depth``.
    None if it is fine (or bad in a way the parser reports)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8: byte {exc.start} is invalid"
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except _Refused as exc:
        return str(exc)
    except RecursionError:
        return f"the body nests arrays and objects deeper than {max_depth} levels"
    except ValueError:
        return None  # not JSON at all: the parser says so
    if depth(data) > max_depth:
        return f"the body nests arrays and objects deeper than {max_depth} levels"
    if _SURROGATE_ESCAPE.search(body):
        where = unicode_problem(data)
        if where is not None:
            return not_unicode("the body", where)
    return None


class _Refused(ValueError):
    """A JSON body the parser would take but jobq does not: the message says why."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Refused(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {_clip(text)} is too large for a 64-bit float")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(
            f"the integer {_clip(text)} has more than {MAX_INT_DIGITS} digits; send it as a string"
        )
    return int(text)


def _clip(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"


def _expects_continue(scope: Scope) -> bool:
    # The client waits for "100 Continue" before sending: answer now and it sends nothing.
    expect: bytes = dict(scope["headers"]).get(b"expect", b"")
    return expect.lower() == b"100-continue"


async def _drain(receive: Receive, seen: int = 0) -> None:
    """Read and drop what is left of the body, up to ``DRAIN_MAX`` bytes in all."""
    while seen <= DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


async def refuse(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    """Answer with jobq's JSON error before the app runs, and close the connection (what is
    left of the request's body is not read)."""
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    extra = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
