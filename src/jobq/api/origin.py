"""Refuse state-changing requests a browser sends on behalf of another site (CSRF).

A browser names where a request comes from: ``Sec-Fetch-Site`` (every current browser) and
``Origin`` (on every POST). A POST, PUT, PATCH or DELETE that says it comes from another site
gets 403 before the app runs. Clients that are not browsers (curl, ``jobq.Client``, your
services) send neither header and pass, as do the dashboard's own requests (same origin).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})


class SameOriginWrites:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in UNSAFE:
            reason = _cross_site(dict(scope["headers"]))
            if reason is not None:
                await _forbid(send, reason)
                return
        await self.app(scope, receive, send)


def _cross_site(headers: dict[bytes, bytes]) -> str | None:
    site = headers.get(b"sec-fetch-site")
    if site is not None:  # the browser's own word, when it gives it, is the one to go by
        if site in ALLOWED_FETCH_SITES:
            return None
        return f"a browser sent this request from another site (Sec-Fetch-Site: {site.decode()})"
    origin = headers.get(b"origin")  # older browsers: compare the origin with this host
    if origin is not None:
        host = headers.get(b"host", b"").decode("latin-1")
        seen = urlsplit(origin.decode("latin-1")).netloc
        if origin == b"null" or seen != host:
            return f"a browser sent this request from another origin ({origin.decode('latin-1')})"
    return None


async def _forbid(send: Send, reason: str) -> None:
    body = json.dumps(
        {"error": {"code": "cross_origin", "message": f"refused: {reason}", "details": None}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
