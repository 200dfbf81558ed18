"""Request bodies larger than the limit are refused with 413 before the app sees them."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobq.store.codec import MAX_DEPTH, depth

# Past the limit the rest of the body is still read (and dropped), up to this many bytes, so the
# client, which sends its whole body before it reads the answer, gets the 413 instead of a
# connection reset. A larger body is cut off.
DRAIN_MAX = 64 * 1024 * 1024


class BodyLimit:
    """Read the whole body (up to ``max_bytes``) before the app runs; refuse more with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await refuse(
                    send, 400, "invalid_content_length", "the Content-Length header is not a number"
                )
                return
            if int(declared) > self.max_bytes:
                if int(declared) <= DRAIN_MAX and not _expects_continue(scope):
                    await _drain(receive)
                await self._too_large(send)
                return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away; nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await _drain(receive, size)
                await self._too_large(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False
        if body and scope["method"] in ("POST", "PUT", "PATCH") and _is_json(scope):
            problem = json_problem(body)
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

    async def _too_large(self, send: Send) -> None:
        await refuse(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
        )


def _is_json(scope: Scope) -> bool:
    content_type: bytes = dict(scope["headers"]).get(b"content-type", b"")
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


def json_problem(body: bytes) -> str | None:
    """What is wrong with a JSON body that the parser after us would take without a word:
    bytes that are not UTF-8, a key given twice in one object (which value would count?),
    nesting past ``MAX_DEPTH``. None if it is fine (or bad in a way the parser reports)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"the body is not UTF-8: byte {exc.start} is invalid"
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        return f"the key {exc.key!r} appears twice in one object"
    except RecursionError:
        return f"the body nests arrays and objects deeper than {MAX_DEPTH} levels"
    except ValueError:
        return None  # not JSON at all: the parser says so
    if depth(data) > MAX_DEPTH:
        return f"the body nests arrays and objects deeper than {MAX_DEPTH} levels"
    return None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


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


async def refuse(send: Send, status: int, code: str, message: str) -> None:
    """Answer with jobq's JSON error before the app runs, and close the connection (what is
    left of the request's body is not read)."""
    body = json.dumps({"error": {"code": code, "message": message, "details": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
