"""API tokens against a real server on loopback: every route by every kind of caller, the
dashboard's sign-in, session cookie and CSRF token, the rate limit and revocation."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest

from jobq.api.auth import CACHE_SECONDS, AccessPolicy
from jobq.domain.tokens import Scope, new_token
from jobq.jobqueue import JobQueue
from tests.helpers import live_server, wait_for

READ, ENQUEUE, ADMIN = Scope.READ, Scope.ENQUEUE, Scope.ADMIN


async def make_token(jq: JobQueue, scope: Scope, name: str = "") -> str:
    token, text = new_token(scope, name or f"{scope.value} test", jq.clock.now())
    await jq.store.tokens.add(token)
    return text


@dataclass
class Server:
    url: str
    jq: JobQueue
    tokens: dict[Scope, str]

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


async def serve(
    jq: JobQueue,
    access: AccessPolicy | None = None,
    auth_clock: Callable[[], float] | None = None,
) -> AsyncIterator[Server]:
    tokens = {scope: await make_token(jq, scope) for scope in Scope}
    access = access or AccessPolicy(rate_limit=0)
    async with live_server(jq, access=access, auth_clock=auth_clock) as url:
        yield Server(url, jq, tokens)


@pytest.fixture
async def server(jq: JobQueue) -> AsyncIterator[Server]:
    async for running in serve(jq):
        yield running


# -- the matrix ---------------------------------------------------------------------------

#: (method, path, body, least scope); {id} is a pending job's id, {dead} a dead one's
ROUTES: list[tuple[str, str, object, Scope]] = [
    ("GET", "/metrics", None, READ),
    ("GET", "/stats", None, READ),
    ("GET", "/jobs", None, READ),
    ("GET", "/jobs/{id}", None, READ),
    ("GET", "/openapi.json", None, READ),
    ("GET", "/", None, READ),
    ("GET", "/ui/jobs", None, READ),
    ("GET", "/ui/jobs/{id}", None, READ),
    ("POST", "/jobs", {"type": "echo"}, ENQUEUE),
    ("POST", "/jobs/batch", {"jobs": [{"type": "echo"}]}, ENQUEUE),
    ("POST", "/jobs/{id}/cancel", None, ADMIN),
    ("POST", "/jobs/{dead}/retry", None, ADMIN),
    ("POST", "/jobs/retry-dead", {"type": "echo"}, ADMIN),
    ("POST", "/ui/jobs/{id}/cancel", None, ADMIN),
    ("POST", "/ui/retry-dead", None, ADMIN),
    ("GET", "/schedules", None, READ),
    ("GET", "/schedules/s", None, READ),
    ("GET", "/ui/schedules", None, READ),
    ("POST", "/schedules", {"name": "m", "type": "echo", "cron": "0 7 * * *"}, ADMIN),
    ("PATCH", "/schedules/s", {"paused": True}, ADMIN),
    ("DELETE", "/schedules/none", None, ADMIN),
    ("POST", "/ui/schedules/s/pause", None, ADMIN),
    ("GET", "/types/echo", None, READ),
    ("GET", "/ui/types/echo", None, READ),
    ("POST", "/ui/types/echo/enqueue", None, ENQUEUE),
    ("POST", "/workflows", {"jobs": [{"ref": "a", "type": "echo"}]}, ENQUEUE),
    ("GET", "/workflows/none", None, READ),
    ("POST", "/workflows/none/cancel", None, ADMIN),
    ("GET", "/ui/workflows/none", None, READ),
    ("POST", "/ui/workflows/none/cancel", None, ADMIN),
]
CALLERS = ["no token", "a bad token", "a revoked token", *(s.value for s in Scope)]


def route_id(route: tuple[str, str, object, Scope]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
async def test_every_route_by_every_caller(
    server: Server, route: tuple[str, str, object, Scope]
) -> None:
    method, template, body, needed = route
    jq = server.jq
    revoked = await make_token(jq, ADMIN, "revoked")
    await jq.store.tokens.revoke(revoked.split("_")[1])
    for caller in CALLERS:
        pending = await jq.enqueue("echo", {})
        dead = await jq.enqueue("echo", {})
        await jq.cancel(dead.id)
        path = template.format(id=pending.id, dead=dead.id)
        token = {
            "no token": None,
            "a bad token": "jobq_000000000000_" + "x" * 43,
            "a revoked token": revoked,
        }.get(
            caller, server.tokens.get(Scope(caller)) if caller in Scope._value2member_map_ else None
        )
        async with server.client(token) as client:
            response = await client.request(method, path, json=body)
        if caller in ("no token", "a bad token", "a revoked token"):
            assert response.status_code == 401, (caller, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert response.headers["www-authenticate"] == 'Bearer realm="jobq"'
        elif not Scope(caller).allows(needed):
            assert response.status_code == 403, (caller, response.text)
            error = response.json()["error"]
            assert error["code"] == "forbidden"
            assert f"scope is {caller}" in error["message"] and needed.value in error["message"]
        else:  # let through: what the route answers is its own business (here, < 500)
            assert response.status_code not in (401, 403), (caller, method, path, response.text)
            assert response.status_code < 500, (caller, method, path, response.text)


async def test_the_probes_need_no_token(server: Server) -> None:
    """Tried as a new user would: once tokens existed, the orchestrator's readiness probe got
    401. Both probes answer without a token, and say nothing but their state."""
    async with server.client() as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        assert (await client.get("/ready")).json() == {"status": "ready"}
        assert (await client.get("/stats")).status_code == 401  # the rest still needs one


async def test_no_token_nothing_changes_when_refused(server: Server) -> None:
    before = len((await server.jq.store.reads.list_jobs(_all(), limit=100)).jobs)
    async with server.client(server.tokens[READ]) as client:
        assert (await client.post("/jobs", json={"type": "echo"})).status_code == 403
    async with server.client() as client:
        assert (await client.post("/jobs", json={"type": "echo"})).status_code == 401
    assert len((await server.jq.store.reads.list_jobs(_all(), limit=100)).jobs) == before


def _all() -> object:
    from jobq.store.records import JobFilter

    return JobFilter()


async def test_the_api_is_open_until_the_first_token(jq: JobQueue) -> None:
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.post("/jobs", json={"type": "echo"})).status_code == 201
        await make_token(jq, READ)

        async def closed() -> bool:
            return (await client.get("/jobs")).status_code == 401

        await wait_for(closed, timeout=5, what="the new token to close the API")


async def test_a_revoked_token_stops_working_within_seconds(server: Server) -> None:
    token = server.tokens[ADMIN]
    async with server.client(token) as client:
        assert (await client.get("/stats")).status_code == 200
        await server.jq.store.tokens.revoke(token.split("_")[1])
        started = time.monotonic()

        async def refused() -> bool:
            return (await client.get("/stats")).status_code == 401

        await wait_for(refused, timeout=5, what="the revoked token to be refused")
        assert time.monotonic() - started < 3.5


async def test_metrics_can_be_opened_explicitly(jq: JobQueue) -> None:
    async for server in serve(jq, AccessPolicy(metrics_public=True, rate_limit=0)):
        async with server.client() as client:
            assert (await client.get("/metrics")).status_code == 200
            assert (await client.get("/stats")).status_code == 401


async def test_each_token_has_its_own_rate(jq: JobQueue) -> None:
    """On the authenticator's clock, held still: the buckets refill only when the test moves
    it, however long the requests take (a slow machine once refilled one mid-test)."""
    now = [1000.0]
    async for server in serve(jq, AccessPolicy(rate_limit=5), auth_clock=lambda: now[0]):
        async with server.client(server.tokens[READ]) as client:
            answers = [(await client.get("/health")).status_code for _ in range(3)]
            assert answers == [200] * 3  # /health is not counted: it needs no token
            statuses = [(await client.get("/stats")).status_code for _ in range(11)]
            assert statuses == [200] * 10 + [429]  # bursts of 10
            limited = await client.get("/stats")
            assert limited.status_code == 429
            assert limited.json()["error"]["code"] == "rate_limited"
            assert int(limited.headers["retry-after"]) == 1
            now[0] += 0.2  # one request's worth at 5 a second
            assert (await client.get("/stats")).status_code == 200
            assert (await client.get("/stats")).status_code == 429
        async with server.client(server.tokens[ADMIN]) as other:
            assert (await other.get("/stats")).status_code == 200  # its own bucket


# -- the dashboard --------------------------------------------------------------------------

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


@contextlib.asynccontextmanager
async def sign_in(
    server: Server, scope: Scope, next_path: str = "/ui/jobs"
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client signed in to the dashboard with ``scope``'s token."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.post(
            "/ui/login", data={"token": server.tokens[scope], "next": next_path}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"] == next_path
        cookie = response.headers["set-cookie"]
        assert "jobq_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert server.tokens[scope] not in cookie  # the session is not the token
        yield client


async def test_a_browser_without_a_session_is_sent_to_sign_in(server: Server) -> None:
    async with server.client() as client:
        response = await client.get("/ui/jobs?status=dead", headers={"Accept": "text/html"})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?next=%2Fui%2Fjobs%3Fstatus%3Ddead"
        page = await client.get("/ui/login")
        assert page.status_code == 200 and 'name="token"' in page.text
        css = await client.get("/ui/static/app.css")
        assert css.status_code == 200  # the sign-in page has its style


async def test_a_bad_token_does_not_sign_in_and_next_stays_on_this_site(server: Server) -> None:
    async with server.client() as client:
        response = await client.post("/ui/login", data={"token": "jobq_nope", "next": "/"})
        assert response.status_code == 401
        assert "not an active jobq token" in response.text
        assert "set-cookie" not in response.headers
        for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
            response = await client.post(
                "/ui/login", data={"token": server.tokens[READ], "next": target}
            )
            assert response.headers["location"] == "/", target


async def test_an_admin_session_acts_only_with_its_csrf_token(server: Server) -> None:
    job = await server.jq.enqueue("echo", {})
    async with sign_in(server, ADMIN) as client:
        page = await client.get(f"/ui/jobs/{job.id}")
        assert page.status_code == 200 and 'id="cancel"' in page.text
        [csrf] = set(CSRF.findall(page.text))
        forged = await client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf_token": "0" * 32})
        assert forged.status_code == 403
        assert (await server.jq.get(job.id)).status.value == "pending"
        no_field = await client.post(f"/ui/jobs/{job.id}/cancel")
        assert no_field.status_code == 403
        done = await client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf_token": csrf})
        assert done.status_code == 303
        assert (await server.jq.get(job.id)).status.value == "cancelled"
        # the JSON API, reached with the cookie, wants the token in a header
        api = await client.post("/jobs", json={"type": "echo"})
        assert api.status_code == 403 and api.json()["error"]["code"] == "csrf_failed"
        api = await client.post("/jobs", json={"type": "echo"}, headers={"X-CSRF-Token": csrf})
        assert api.status_code == 201
        # where a script finds the value: in any page's <meta name="csrf-token">
        listing = (await client.get("/ui/jobs")).text
        assert f'<meta name="csrf-token" content="{csrf}">' in listing
        # signing out ends the session in this browser
        out = await client.post("/ui/logout")
        assert out.status_code == 303 and 'jobq_session=""' in out.headers["set-cookie"]
        client.cookies.clear()
        assert (await client.get("/stats")).status_code == 401


async def test_a_read_session_sees_a_read_only_dashboard(server: Server) -> None:
    job = await server.jq.enqueue("echo", {})
    async with sign_in(server, READ) as client:
        page = await client.get(f"/ui/jobs/{job.id}")
        assert page.status_code == 200
        assert 'id="cancel"' not in page.text and 'id="read-only"' in page.text
        assert "read test · read" in page.text  # who is signed in
        refused = await client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf_token": "x"})
        assert refused.status_code == 403
        assert (await server.jq.get(job.id)).status.value == "pending"


async def test_a_read_session_sees_schedules_without_their_buttons(server: Server) -> None:
    await server.jq.schedules.create("echo", "0 7 * * *", name="morning")
    async with sign_in(server, READ, "/ui/schedules") as client:
        page = await client.get("/ui/schedules")
        assert page.status_code == 200 and 'data-name="morning"' in page.text
        assert "Pause</button>" not in page.text and 'id="read-only"' in page.text
        refused = await client.post("/ui/schedules/morning/pause", data={"csrf_token": "x"})
        assert refused.status_code == 403
    assert not (await server.jq.schedules.get("morning")).paused
    async with sign_in(server, ADMIN, "/ui/schedules") as client:
        page = await client.get("/ui/schedules")
        assert "Pause</button>" in page.text and 'id="read-only"' not in page.text
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        done = await client.post("/ui/schedules/morning/pause", data={"csrf_token": csrf})
        assert done.status_code == 303
    assert (await server.jq.schedules.get("morning")).paused


async def test_a_session_ends_when_its_token_is_revoked(server: Server) -> None:
    async with sign_in(server, ADMIN) as client:
        assert (await client.get("/stats")).status_code == 200
        await server.jq.store.tokens.revoke(server.tokens[ADMIN].split("_")[1])

        async def ended() -> bool:
            return (await client.get("/stats")).status_code == 401

        await wait_for(ended, timeout=5, what="the session to end with its token")


async def test_revoking_every_token_locks_the_api_instead_of_opening_it(server: Server) -> None:
    for text in server.tokens.values():
        assert await server.jq.store.tokens.revoke(text.split("_")[1])
    async with server.client(server.tokens[ADMIN]) as client:

        async def refused() -> bool:
            return (await client.get("/stats")).status_code == 401

        await wait_for(refused, timeout=5, what="the revoked tokens to be refused")
    async with server.client() as anonymous:
        assert (await anonymous.get("/stats")).status_code == 401


async def test_the_python_client_sends_its_token(server: Server) -> None:
    from jobq.client import AsyncClient, ClientError

    async with AsyncClient(server.url, token=server.tokens[ENQUEUE]) as client:
        job = await client.enqueue("echo", {"n": 1})
        assert (await client.get(job.id)).status == "pending"
        with pytest.raises(ClientError) as refused:
            await client.cancel(job.id)
        assert refused.value.status == 403
    async with AsyncClient(server.url) as anonymous:
        with pytest.raises(ClientError) as unknown:
            await anonymous.stats()
        assert unknown.value.status == 401


async def test_a_copy_of_the_database_cannot_make_a_session(server: Server) -> None:
    """Sessions are signed with the server's key, not only the stored hash."""
    import hashlib
    import hmac

    stored = await server.jq.store.tokens.get(server.tokens[ADMIN].split("_")[1])
    assert stored is not None
    expires = int(time.time()) + 3600
    mac = hmac.new(
        stored.secret_hash.encode(), f"session|{stored.id}|{expires}".encode(), hashlib.sha256
    ).hexdigest()
    forged = f"{stored.id}.{expires}.{mac}"
    async with server.client() as client:
        client.cookies.set("jobq_session", forged)
        assert (await client.get("/stats")).status_code == 401


@pytest.mark.parametrize(
    ("cookie", "csrf"),
    [("0123456789ab.9999999999.\u00e9", None), (None, "\u00e9\u00e9"), ("x" * 5000, None)],
)
async def test_odd_cookies_and_csrf_values_are_refused_not_crashed(
    server: Server, cookie: str | None, csrf: str | None
) -> None:
    job = await server.jq.enqueue("echo", {})
    async with sign_in(server, ADMIN) as client:
        headers: dict[str, bytes] = {}  # bytes: httpx sends them as they are, UTF-8 included
        if cookie is not None:
            client.cookies.clear()
            headers["Cookie"] = f"jobq_session={cookie}".encode()
        form = {"csrf_token": csrf} if csrf is not None else {}
        for response in (
            await client.get("/health", headers=headers),
            await client.get("/stats", headers=headers),
            await client.post(f"/ui/jobs/{job.id}/cancel", data=form, headers=headers),
            await client.post("/jobs", json={"type": "echo"},
                              headers={**headers, "X-CSRF-Token": (csrf or "").encode()}),
        ):  # fmt: skip
            assert response.status_code < 500, response.text
    assert (await server.jq.get(job.id)).status.value == "pending"


async def test_health_answers_while_the_store_is_away(jq: JobQueue) -> None:
    now = [0.0]
    async for server in serve(jq, auth_clock=lambda: now[0]):
        async with server.client() as client:
            assert (await client.get("/stats")).status_code == 401  # it knows tokens exist
            await jq.store.close()
            now[0] += CACHE_SECONDS + 0.1  # past what the authenticator remembers
            assert (await client.get("/health")).status_code == 200
            refused = await client.get("/stats")
            assert refused.status_code == 503
            assert "Retry-After" in refused.headers
            assert str(jq.database_url).split("///")[-1] not in refused.text  # no path shown
