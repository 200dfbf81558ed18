"""The HTTP server settings jobq runs uvicorn with, and its HTTP/1.1 protocol (h11) refusing a
request it cannot parse with jobq's JSON error.

uvicorn answers a malformed request, or one whose headers outgrow ``max_header_bytes``, with a
plain-text 400 before any app runs. Clients of jobq read ``{"error": ...}`` everywhere, so this
protocol sends that instead: 431 for headers that are too large, 400 otherwise.
"""

from __future__ import annotations

import json
from typing import Any

import h11
import uvicorn
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol


def server_config(app: Any, *, max_header_bytes: int, graceful_seconds: int = 30) -> uvicorn.Config:
    """uvicorn for ``app``: no logging of its own (jobq logs), no lifespan (the caller opens
    and closes the store), no ``Server`` header, headers up to ``max_header_bytes``."""
    return uvicorn.Config(
        app,
        http=JsonErrorH11Protocol,
        h11_max_incomplete_event_size=max_header_bytes,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=graceful_seconds,
        server_header=False,
    )


class JsonErrorH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        buffered, _ = self.conn.trailing_data
        limit = self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        if len(buffered) > limit:
            status, code = 431, "headers_too_large"
            message = (
                f"the request line and headers are larger than {limit} bytes "
                "(JOBQ_MAX_HEADER_BYTES)"
            )
        else:
            status, code = 400, "invalid_http"
            message = "the request is not valid HTTP/1.1"
        body = json.dumps({"error": {"code": code, "message": message, "details": None}})
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        self.transport.write(self.conn.send(h11.Response(status_code=status, headers=headers)))
        self.transport.write(self.conn.send(h11.Data(data=body.encode())))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
