"""Who may do what: API tokens, dashboard sessions, scopes and the per-token rate limit.

Until the first token is created (``jobq tokens create``) the API is open, as it always was on
loopback. Once any token exists, every route but ``/health`` (and the dashboard's sign-in page
and assets) needs an active one; revoking every token locks the API, it does not open it:

- ``Authorization: Bearer jobq_<id>_<secret>`` (API clients, the CLI, scrapers), or
- the dashboard's session cookie, set by signing in with a token. A session is
  ``<token id>.<expiry>.<mac>``, the MAC keyed by the token's stored hash: sessions need no
  table, work across processes, and end when the token is revoked. State-changing requests made
  with the cookie must carry the session's CSRF token (a form field on the dashboard's forms,
  ``X-CSRF-Token`` elsewhere).

Answers: 401 (no or bad credentials; browsers asking for a page are sent to the sign-in page),
403 (the token's scope may not), 429 with ``Retry-After`` (the token's rate is spent).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from jobq.api.limits import refuse
from jobq.domain.errors import StoreError, StoreUnavailable
from jobq.domain.tokens import ApiToken, split_token
from jobq.domain.tokens import Scope as TokenScope
from jobq.store.base import TokenStore

SESSION_COOKIE = "jobq_session"
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = b"x-csrf-token"
RETRY_AFTER = 1  # seconds, when the store cannot say who a token is
CACHE_SECONDS = 2.0  # a new or revoked token counts everywhere within this long
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: what anyone may reach: liveness, and what signing in needs
OPEN_PATHS = frozenset({"/health", "/ui/login", "/ui/logout"})
OPEN_PREFIXES = ("/ui/static/",)
ENQUEUE_PATHS = frozenset({"/jobs", "/jobs/batch"})


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Settings ``JOBQ_METRICS_PUBLIC`` and ``JOBQ_RATE_LIMIT``."""

    metrics_public: bool = False
    rate_limit: float = 100.0  # requests a second per token; 0: no limit


@dataclass(frozen=True, slots=True)
class Principal:
    """The token a request was made with, and how it was presented."""

    token: ApiToken
    via: Literal["bearer", "session"]
    csrf: str | None = None  # the session's CSRF token, for the dashboard's forms

    @property
    def scope(self) -> TokenScope:
        return self.token.scope


def required_scope(method: str, path: str, *, metrics_public: bool) -> TokenScope | None:
    """The least scope a request needs; None: anyone may."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if path == "/metrics" and metrics_public:
        return None
    if method not in UNSAFE:
        return TokenScope.READ
    if method == "POST" and path in ENQUEUE_PATHS:
        return TokenScope.ENQUEUE
    return TokenScope.ADMIN


# -- sessions -----------------------------------------------------------------------------


def _mac(token: ApiToken, message: str) -> str:
    return hmac.new(token.secret_hash.encode(), message.encode(), hashlib.sha256).hexdigest()


def session_for(token: ApiToken, now: float) -> str:
    expires = int(now) + SESSION_SECONDS
    return f"{token.id}.{expires}.{_mac(token, f'session|{token.id}|{expires}')}"


def session_token_id(value: str) -> str | None:
    parts = value.split(".")
    return parts[0] if len(parts) == 3 and parts[1].isdigit() else None


def session_valid(token: ApiToken, value: str, now: float) -> bool:
    token_id, expires, mac = value.split(".")
    expected = _mac(token, f"session|{token_id}|{expires}")
    return hmac.compare_digest(mac, expected) and int(expires) > now


def csrf_for(token: ApiToken, session: str) -> str:
    return _mac(token, f"csrf|{session}")[:32]


# -- tokens -------------------------------------------------------------------------------


class Authenticator:
    """Checks presented tokens against the store, remembering answers for ``CACHE_SECONDS`` so
    that a request costs no query."""

    def __init__(
        self, store: Callable[[], TokenStore], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store  # called per lookup: the app is made before its store is open
        self.clock = clock
        self._enabled: tuple[float, bool] | None = None
        self._tokens: dict[str, tuple[float, ApiToken | None]] = {}

    async def enabled(self) -> bool:
        """Whether any token was ever made (until then, the API is open)."""
        now = self.clock()
        if self._enabled is None or now - self._enabled[0] > CACHE_SECONDS:
            self._enabled = (now, await self._store().has_tokens())
        return self._enabled[1]

    async def token(self, token_id: str) -> ApiToken | None:
        """The active token with that id, or None."""
        now = self.clock()
        cached = self._tokens.get(token_id)
        if cached is None or now - cached[0] > CACHE_SECONDS:
            if len(self._tokens) > 10_000:  # ids made up by a client must not grow this forever
                self._tokens.clear()
            found = await self._store().token(token_id)
            cached = (now, found if found is not None and found.active else None)
            self._tokens[token_id] = cached
        return cached[1]

    async def check(self, text: str) -> ApiToken | None:
        """The active token ``text`` is, or None."""
        parts = split_token(text)
        if parts is None:
            return None
        token = await self.token(parts[0])
        return token if token is not None and token.matches(parts[1]) else None

    async def session(self, value: str) -> ApiToken | None:
        token_id = session_token_id(value)
        token = None if token_id is None else await self.token(token_id)
        if token is None or not session_valid(token, value, time.time()):
            return None
        return token


class RateLimit:
    """A token bucket per token: ``rate`` requests a second, bursts of twice that."""

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def wait(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0 if it may go now, else the seconds until
        it may."""
        now = self.clock()
        level, then = self._buckets.get(key, (self.burst, now))
        level = min(self.burst, level + (now - then) * self.rate)
        if level >= 1:
            self._buckets[key] = (level - 1, now)
            return 0.0
        self._buckets[key] = (level, now)
        return (1 - level) / self.rate


# -- the middleware -----------------------------------------------------------------------


class RequireToken:
    """Refuse a request whose credentials do not allow it, before anything else reads it."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        policy: AccessPolicy,
    ) -> None:
        self.app = app
        self.auth = authenticator
        self.metrics_public = policy.metrics_public
        self.limiter = RateLimit(policy.rate_limit) if policy.rate_limit > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        state = scope.setdefault("state", {})
        state["principal"] = None
        needed = required_scope(method, path, metrics_public=self.metrics_public)
        headers = dict(scope["headers"])
        try:
            if not await self.auth.enabled():
                await self.app(scope, receive, send)
                return
            principal = await self._principal(headers)
        except StoreError as exc:  # as the API answers store errors (api/errors.py)
            if isinstance(exc, StoreUnavailable):
                retry = {"Retry-After": str(RETRY_AFTER)}
                await refuse(send, 503, "store_unavailable", str(exc), headers=retry)
            else:
                await refuse(send, 500, "store_error", str(exc))
            return
        state["principal"] = principal
        if needed is None:
            await self.app(scope, receive, send)
            return
        if principal is None:
            await self._unauthenticated(scope, headers, send)
            return
        if not principal.scope.allows(needed):
            await refuse(
                send,
                403,
                "forbidden",
                f"this token's scope is {principal.scope.value}; {method} {path} needs "
                f"{needed.value}",
            )
            return
        if principal.via == "session" and method in UNSAFE and not path.startswith("/ui/"):
            # the dashboard's own forms are checked where they are read (pages.py)
            sent = headers.get(CSRF_HEADER, b"").decode("latin-1")
            if principal.csrf is None or not hmac.compare_digest(sent, principal.csrf):
                await refuse(
                    send, 403, "csrf_failed", "a request made with the session cookie needs "
                    "its X-CSRF-Token header",
                )  # fmt: skip
                return
        if self.limiter is not None:
            wait = self.limiter.wait(principal.token.id)
            if wait > 0:
                await refuse(
                    send,
                    429,
                    "rate_limited",
                    f"this token may make {self.limiter.rate:g} requests a second "
                    "(JOBQ_RATE_LIMIT); try again later",
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )
                return
        await self.app(scope, receive, send)

    async def _principal(self, headers: dict[bytes, bytes]) -> Principal | None:
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        if authorization:
            kind, _, credentials = authorization.partition(" ")
            if kind.lower() != "bearer":
                return None
            token = await self.auth.check(credentials)
            return None if token is None else Principal(token, "bearer")
        session = _cookie(headers, SESSION_COOKIE)
        if session:
            token = await self.auth.session(session)
            if token is not None:
                return Principal(token, "session", csrf_for(token, session))
        return None

    async def _unauthenticated(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> None:
        wants_page = b"text/html" in headers.get(b"accept", b"")
        if scope["method"] == "GET" and wants_page and not scope["path"].startswith("/jobs"):
            target = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [
                        (b"location", f"/ui/login?next={quote(target, safe='')}".encode()),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        given = b"authorization" in headers
        await refuse(
            send,
            401,
            "unauthorized",
            "the token is not valid (revoked, mistyped, or not a jobq token)"
            if given
            else "this server needs an API token: send Authorization: Bearer <token> "
            "(jobq tokens create makes one)",
            headers={"WWW-Authenticate": 'Bearer realm="jobq"'},
        )


def _cookie(headers: dict[bytes, bytes], name: str) -> str | None:
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
