"""Who may do what: API tokens, dashboard sessions, scopes and the per-token rate limit.

Until the first token is created (``jobq tokens create``) the API is open, as it always was on
loopback. Once any token exists, every route but ``/health`` (and the dashboard's sign-in page
and assets) needs an active one; revoking every token locks the API, it does not open it:

- ``Authorization: Bearer jobq_<id>_<secret>`` (API clients, the CLI, scrapers), or
- the dashboard's session cookie, set by signing in with a token. A session is
  ``<token id>.<expiry>.<mac>``, the MAC keyed by the server's session key and the token's
  stored hash: sessions need no table, work on every process with the same key, and end when
  the token is revoked; a copy of the database cannot make one. State-changing requests made
  with the cookie must carry the session's CSRF token (a form field on the dashboard's forms,
  ``X-CSRF-Token`` elsewhere).

Answers: 401 (no or bad credentials; browsers asking for a page are sent to the sign-in page),
403 (the token's scope may not), 429 with ``Retry-After`` (the token's rate is spent).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from jobq.api.errors import store_error_status
from jobq.api.limits import refuse
from jobq.domain.errors import StoreError
from jobq.domain.tokens import ApiToken, split_token
from jobq.domain.tokens import Scope as TokenScope
from jobq.store.ports import Tokens

logger = structlog.get_logger("jobq.api")

SESSION_COOKIE = "jobq_session"
_SESSION = re.compile(r"^([0-9a-f]{12})\.[0-9]{1,12}\.[0-9a-f]{64}$")
SESSION_SECONDS = 12 * 3600
CSRF_HEADER = b"x-csrf-token"
RETRY_AFTER = 1  # seconds, when the store cannot say who a token is
CACHE_SECONDS = 2.0  # a new or revoked token counts everywhere within this long
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: what anyone may reach: the probes (liveness, readiness), and what signing in needs
OPEN_PATHS = frozenset({"/health", "/ready", "/ui/login", "/ui/logout"})
OPEN_PREFIXES = ("/ui/static/",)
ENQUEUE_PATHS = frozenset({"/jobs", "/jobs/batch", "/workflows"})


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """Settings ``JOBQ_METRICS_PUBLIC``, ``JOBQ_RATE_LIMIT`` and ``JOBQ_SESSION_KEY``."""

    metrics_public: bool = False
    rate_limit: float = 100.0  # requests a second per token; 0: no limit
    session_key: bytes | None = None  # JOBQ_SESSION_KEY; None: a random key per process


@dataclass(frozen=True, slots=True)
class Principal:
    """The token a request was made with, and how it was presented."""

    token: ApiToken
    via: Literal["bearer", "session"]
    csrf: str | None = None  # the session's CSRF token, for the dashboard's forms

    @property
    def scope(self) -> TokenScope:
        return self.token.scope


#: the dashboard's form that enqueues a job of a type (``dashboard/types.py``)
_DASHBOARD_ENQUEUE = re.compile(r"/ui/types/[^/]+/enqueue")


def required_scope(method: str, path: str, *, metrics_public: bool) -> TokenScope | None:
    """The least scope a request needs; None: anyone may."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    if path == "/metrics" and metrics_public:
        return None
    if method not in UNSAFE:
        return TokenScope.READ
    if method == "POST" and (path in ENQUEUE_PATHS or _DASHBOARD_ENQUEUE.fullmatch(path)):
        return TokenScope.ENQUEUE
    return TokenScope.ADMIN


# -- sessions -----------------------------------------------------------------------------


def _mac(key: bytes, token: ApiToken, message: str) -> str:
    """MAC of ``message`` under a key of this server's (``key``) and this token: a copy of the
    database alone cannot make a session, and revoking the token ends its sessions."""
    per_token = hmac.new(key, token.secret_hash.encode(), hashlib.sha256).digest()
    return hmac.new(per_token, message.encode(), hashlib.sha256).hexdigest()


def session_for(key: bytes, token: ApiToken, now: float) -> str:
    expires = int(now) + SESSION_SECONDS
    return f"{token.id}.{expires}.{_mac(key, token, f'session|{token.id}|{expires}')}"


def session_token_id(value: str) -> str | None:
    """The token id of a cookie shaped like a session; None for anything else (looked at
    before any lookup, so made-up cookies cost nothing)."""
    found = _SESSION.match(value)
    return None if found is None else found.group(1)


def session_valid(key: bytes, token: ApiToken, value: str, now: float) -> bool:
    token_id, expires, mac = value.split(".")
    expected = _mac(key, token, f"session|{token_id}|{expires}")
    return same(mac, expected) and int(expires) > now


def same(given: str, expected: str) -> bool:
    """Constant-time comparison of text a client sent (any characters) with a value of ours."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


def csrf_for(key: bytes, token: ApiToken, session: str) -> str:
    return _mac(key, token, f"csrf|{session}")[:32]


# -- tokens -------------------------------------------------------------------------------


class Authenticator:
    """Checks presented tokens against the store, remembering answers for ``CACHE_SECONDS`` so
    that a request costs no query."""

    def __init__(
        self,
        tokens: Callable[[], Tokens],
        *,
        session_key: bytes | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens_of = tokens  # called per lookup: the app is made before its store opens
        #: signs dashboard sessions; unset, a key of this process's own (sessions then work
        #: only on it, until it restarts)
        self.session_key = session_key or secrets.token_bytes(32)
        self.clock = clock
        self._enabled: tuple[float, bool] | None = None
        self._tokens: dict[str, tuple[float, ApiToken]] = {}  # bounded by the real tokens
        self._misses: dict[str, float] = {}  # ids that are no active token

    async def enabled(self) -> bool:
        """Whether any token was ever made (until then, the API is open)."""
        now = self.clock()
        if self._enabled is None or now - self._enabled[0] > CACHE_SECONDS:
            self._enabled = (now, await self._tokens_of().exist())
        return self._enabled[1]

    async def token(self, token_id: str) -> ApiToken | None:
        """The active token with that id, or None."""
        now = self.clock()
        cached = self._tokens.get(token_id)
        if cached is not None and now - cached[0] <= CACHE_SECONDS:
            return cached[1]
        missed = self._misses.get(token_id)
        if missed is not None and now - missed <= CACHE_SECONDS:
            return None
        found = await self._tokens_of().get(token_id)
        if found is not None and found.active:
            self._tokens[token_id] = (now, found)
            self._misses.pop(token_id, None)
            return found
        self._tokens.pop(token_id, None)
        if len(self._misses) >= 10_000:  # made-up ids must not grow this without end
            self._misses.clear()
        self._misses[token_id] = now
        return None

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
        if token is None or not session_valid(self.session_key, token, value, time.time()):
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
        # the authenticator's clock (a test moves it): its buckets refill by the same time
        self.limiter = (
            RateLimit(policy.rate_limit, clock=lambda: authenticator.clock())
            if policy.rate_limit > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        state = scope.setdefault("state", {})
        state["principal"] = None
        needed = required_scope(method, path, metrics_public=self.metrics_public)
        if needed is None:  # /health, signing in: never wait on the store
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        try:
            enabled = await self.auth.enabled()
            principal = await self._principal(headers) if enabled else None
        except StoreError as exc:
            await self._store_failed(send, path, exc)
            return
        if not enabled:  # no token was ever made: the API is open
            await self.app(scope, receive, send)
            return
        state["principal"] = principal
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
            if principal.csrf is None or not same(sent, principal.csrf):
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

    async def _store_failed(self, send: Send, path: str, exc: StoreError) -> None:
        """The store could not say who is asking: 503 (507 if its disk is full), as the API
        answers store errors, without the store's own words (the caller is not known yet)."""
        status, code = store_error_status(exc)
        logger.warning("request_failed", path=path, error=str(exc), code=code)
        await refuse(
            send,
            status,
            code,
            "the store cannot check API tokens now; try again later",
            headers={"Retry-After": str(RETRY_AFTER)} if status != 500 else None,
        )

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
                return Principal(token, "session", csrf_for(self.auth.session_key, token, session))
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
