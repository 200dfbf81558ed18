"""Refuse what a browser sends on behalf of another site.

Host: a request must name this server by a name it answers to (``allowed_hosts``). Otherwise a
page whose DNS name an attacker re-points at 127.0.0.1 (DNS rebinding) would be "same-origin"
with the API and could read and write it. Any method; 400. The probes (``/health``,
``/ready``) answer any Host: they reveal nothing.

Writes (CSRF):
A browser names where a request comes from: ``Sec-Fetch-Site`` (every current browser) and
``Origin`` (on every POST). A POST, PUT, PATCH or DELETE that says it comes from another site
gets 403 before the app runs. Clients that are not browsers (curl, ``jobq.Client``, your
services) send neither header and pass, as do the dashboard's own requests (same origin).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from jobq.api.limits import refuse

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: answered whatever the Host: an orchestrator probes them by the pod's address, and they show
#: a page elsewhere nothing but "ok" or "not ready"
PROBES = frozenset({"/health", "/ready"})
ALLOWED_FETCH_SITES = frozenset({b"same-origin", b"none"})


class SameOriginWrites:
    def __init__(self, app: ASGIApp, allowed_hosts: Collection[str] | None = None) -> None:
        self.app = app
        #: None: any Host (the operator put jobq behind their own proxy, or chose so)
        self.allowed_hosts = (
            None if allowed_hosts is None else frozenset(h.lower() for h in allowed_hosts)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if self.allowed_hosts is not None and scope["path"] not in PROBES:
                name = hostname(headers.get(b"host", b"").decode("latin-1"))
                if name not in self.allowed_hosts:
                    await refuse(
                        send,
                        400,
                        "host_not_allowed",
                        f"this server does not answer to the host {name!r}; allowed: "
                        f"{', '.join(sorted(self.allowed_hosts))} (JOBQ_ALLOWED_HOSTS)",
                    )
                    return
            if scope["method"] in UNSAFE:
                reason = _cross_site(headers)
                if reason is not None:
                    await refuse(send, 403, "cross_origin", f"refused: {reason}")
                    return
        await self.app(scope, receive, send)


def hostname(host: str) -> str:
    """``host:port``, ``[::1]:port`` or a bare name -> the name, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


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
