"""Job types every jobq process has, so the embedded default does real work out of the box.

- ``sleep`` {"seconds": 0..86400}: waits, returns {"slept": seconds}
- ``echo``: returns its payload
- ``http.request`` {"url", "method", "headers", "json" | "body", "timeout"}: calls a URL; a 2xx
  answer succeeds with {"status", "headers", "body"}, anything else fails and is retried. It
  calls only hosts its allowlist names (``JOBQ_HTTP_ALLOW`` in jobq processes; any host in
  library use, see ``builtin_registry``), and checks every redirect against the same list
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from jobq.domain.errors import NonRetryableError
from jobq.http_allow import ALLOW_ANY, HostAllowlist, as_allowlist
from jobq.registry import Registry

if TYPE_CHECKING:
    import httpx

MAX_BODY_KEPT = 64 * 1024  # characters of the response body kept in the result
MAX_REDIRECTS = 20  # redirects one http.request follows, at most
ALLOW_SETTING = "JOBQ_HTTP_ALLOW"
HOST_SETTING = "JOBQ_HOST"


class HTTPStatusFailure(Exception):
    """The server answered with a status other than 2xx."""


async def sleep(payload: dict[str, Any]) -> dict[str, float]:
    from jobq.builtin_payloads import SleepPayload, parse

    seconds = parse(SleepPayload, payload, "sleep").seconds
    await asyncio.sleep(seconds)
    return {"slept": seconds}


async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


class HostNotAllowed(NonRetryableError):
    """``http.request`` was asked to call, or redirected to, a host its allowlist does not
    name. Non-retryable: the same URL is refused on every attempt."""


def _refusal(host: str, allow: HostAllowlist, redirected_from: str | None) -> str:
    via = f" (a redirect from host {redirected_from!r})" if redirected_from is not None else ""
    if allow.allows_none:
        return (
            f"http.request may not call host {host!r}{via}: {ALLOW_SETTING} allows no host "
            f"(unset, it allows none when {HOST_SETTING} is beyond loopback); set it to the "
            "hosts this job may call"
        )
    return (
        f"http.request may not call host {host!r}{via}: it is not in {ALLOW_SETTING} "
        f"(allowed: {', '.join(allow.patterns)})"
    )


class HttpRequest:
    """The handler of ``http.request``, bound to the hosts it may call.

    The host of the URL is checked before any connection is made, and so is the host of every
    redirect before it is followed: a host the allowlist does not name never receives a request,
    and the job fails with ``HostNotAllowed`` (dead at once, not retried).
    """

    def __init__(self, allow: HostAllowlist | Iterable[str] = ALLOW_ANY) -> None:
        self.allow = as_allowlist(allow)
        self.__name__ = "http_request"  # as when this was a function: ``jq.job()(handler)``

    def __repr__(self) -> str:
        return f"HttpRequest(allow={list(self.allow.patterns)!r})"

    def check(self, url: httpx.URL, *, redirected_from: str | None = None) -> str:
        """The host of ``url``; raise ``HostNotAllowed`` unless the allowlist names it."""
        host = url.raw_host.decode("ascii", errors="replace")
        if not self.allow.allows_host(host):
            raise HostNotAllowed(_refusal(host, self.allow, redirected_from))
        return host

    async def __call__(self, payload: dict[str, Any]) -> dict[str, Any]:
        # here, not at the top: most processes never run an http.request job
        import httpx

        from jobq.builtin_payloads import HttpRequestPayload, parse

        request = parse(HttpRequestPayload, payload, "http.request")
        if request.json_body is not None and request.body is not None:
            raise NonRetryableError("invalid payload for http.request: give json or body, not both")
        try:
            url = httpx.URL(str(request.url))
        except httpx.InvalidURL as exc:
            raise NonRetryableError(f"invalid payload for http.request: url: {exc}") from None
        self.check(url)  # before any connection
        hosts: list[str] = []

        async def check_hop(hop: httpx.Request) -> None:
            # httpx awaits request hooks before it sends each request, every redirect included
            hosts.append(self.check(hop.url, redirected_from=hosts[-1] if hosts else None))

        async with httpx.AsyncClient(
            timeout=request.timeout,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            event_hooks={"request": [check_hop]},
        ) as client:
            response = await client.request(
                request.method,
                url,
                headers=request.headers,
                json=request.json_body,
                content=request.body,
            )
        if not 200 <= response.status_code < 300:
            raise HTTPStatusFailure(
                f"{request.method} {request.url} answered {response.status_code} "
                f"{response.reason_phrase}: {response.text[:500]}"
            )
        return {
            "status": response.status_code,
            "headers": dict(response.headers),
            "body": response.text[:MAX_BODY_KEPT],
        }


#: the ``http.request`` handler that may call any host: what ``builtin_registry()`` and
#: ``JobQueue(...)`` register when no allowlist is given
http_request = HttpRequest(ALLOW_ANY)


def is_builtin_http_request(handler: object) -> bool:
    """Whether ``handler`` is the built-in ``http.request`` handler (bound to any allowlist),
    rather than one of the application's own."""
    return isinstance(handler, HttpRequest)


def builtin_registry(http_allow: HostAllowlist | Iterable[str] = ALLOW_ANY) -> Registry:
    """A new registry with the built-in types.

    ``http_allow``: the host patterns ``http.request`` may call (see ``jobq.http_allow``);
    by default any host. That default is what library users get (``JobQueue(...)`` registers
    the built-ins with it); the ``jobq serve`` and ``jobq worker`` processes, and the one-shot
    commands, pass the ``JOBQ_HTTP_ALLOW`` setting instead (``Settings.http_allowlist()``),
    which allows no host by default when ``JOBQ_HOST`` is beyond loopback.
    Raises ``ValueError`` for a pattern that is not one.
    """
    allow = as_allowlist(http_allow)
    registry = Registry()
    registry.job("sleep", timeout=None)(sleep)
    registry.job("echo")(echo)
    handler = http_request if allow == ALLOW_ANY else HttpRequest(allow)
    registry.job("http.request", max_attempts=5, secret=["headers"])(handler)
    return registry
