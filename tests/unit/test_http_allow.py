"""Host patterns for ``http.request`` (``JOBQ_HTTP_ALLOW``), and how jobq processes apply them."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobq import Backoff, JobQueue, NonRetryableError, Registry
from jobq.builtin_jobs import (
    HostNotAllowed,
    HttpRequest,
    builtin_registry,
    http_request,
    is_builtin_http_request,
)
from jobq.cli.common import load_registry
from jobq.config import load_settings
from jobq.http_allow import ALLOW_ANY, HostAllowlist, host_of


@pytest.mark.parametrize(
    ("patterns", "host", "allowed"),
    [
        # an exact name: that name only, in any case, with or without a trailing dot
        (["example.com"], "example.com", True),
        (["example.com"], "EXAMPLE.Com", True),
        (["example.com"], "example.com.", True),
        (["Example.COM."], "example.com", True),
        (["example.com"], "api.example.com", False),
        (["example.com"], "example.co", False),
        (["example.com"], "notexample.com", False),
        (["example.com"], "example.com.evil.net", False),
        (["example.com"], "example.com..", False),
        # *.domain: any subdomain, at any depth, but not the bare domain
        (["*.example.com"], "api.example.com", True),
        (["*.example.com"], "a.b.example.com", True),
        (["*.example.com"], "API.Example.Com.", True),
        (["*.example.com"], "example.com", False),
        (["*.example.com"], "badexample.com", False),
        (["*.example.com"], "example.com.evil.net", False),
        (["*.example.com", "example.com"], "example.com", True),
        # IP addresses: exact, v4 and v6, brackets or not, any spelling of the same address
        (["10.0.0.5"], "10.0.0.5", True),
        (["10.0.0.5"], "10.0.0.6", False),
        (["10.0.0.5"], "::ffff:10.0.0.5", False),
        (["::1"], "::1", True),
        (["::1"], "[::1]", True),
        (["[::1]"], "0:0:0:0:0:0:0:1", True),
        (["2001:db8::1"], "2001:DB8:0::1", True),
        (["::1"], "::2", False),
        # an address matches only address patterns, never a name or a *.domain
        (["*.0.1"], "127.0.0.1", None),  # None: the pattern itself is refused
        (["localhost"], "127.0.0.1", False),
        (["127.0.0.1"], "localhost", False),
        # names ending in a number are IPv4 in disguise to a resolver: never a name
        (["*.example.com"], "127.1", False),
        (["example.com"], "2130706433", False),
        # internationalised names compare in their ASCII (punycode) form
        (["bücher.example"], "xn--bcher-kva.example", True),
        (["bücher.example"], "BÜCHER.example", True),
        (["xn--bcher-kva.example"], "bücher.example", True),
        (["*.bücher.example"], "www.xn--bcher-kva.example", True),
        (["*.xn--bcher-kva.example"], "www.bücher.example", True),
        (["bücher.example"], "bucher.example", False),
        # *: anything; none: nothing
        (["*"], "anything.example", True),
        (["*"], "169.254.169.254", True),
        (["example.com", "*"], "other.example", True),
        ([], "example.com", False),
        ([], "127.0.0.1", False),
        # hosts that are not hosts
        (["example.com"], "", False),
        (["example.com"], "exa%6dple.com", False),
        (["example.com"], "user@example.com", False),
    ],
)
def test_patterns(patterns: list[str], host: str, allowed: bool | None) -> None:
    if allowed is None:
        with pytest.raises(ValueError, match="pattern"):
            HostAllowlist(patterns)
        return
    assert HostAllowlist(patterns).allows_host(host) is allowed


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://api.example.com/x", True),
        ("https://API.EXAMPLE.COM.:8443/x?y=1", True),
        ("http://10.0.0.5:8080/", True),
        ("http://[::1]:8080/", True),
        ("http://www.bücher.example/", True),
        ("http://example.com/", False),
        ("http://api.example.com@evil.example/", False),  # userinfo, then the real host
        ("http://evil.example/#@api.example.com", False),
        # to httpx (RFC 3986) a backslash is part of the userinfo: it connects to api.example.com
        ("http://evil.example\\@api.example.com/", True),
        ("http://127.0.0.1/", False),
        ("http://[::2]/", False),
        ("http://2130706433/", False),
        ("not a url at all", False),
        ("http://[::1/", False),
    ],
)
def test_urls(url: str, allowed: bool) -> None:
    allow = HostAllowlist(["*.example.com", "10.0.0.5", "::1", "*.bücher.example"])
    assert allow.allows_url(url) is allowed


def test_host_of_is_what_httpx_connects_to() -> None:
    assert host_of("http://Bücher.Example./p") == "xn--bcher-kva.example."
    assert host_of("http://[::1]:80/") == "::1"
    assert host_of("http://a.example@b.example/") == "b.example"
    with pytest.raises(ValueError, match="not a URL"):
        host_of("http://[::1/")


@pytest.mark.parametrize(
    "pattern",
    ["http://example.com", "example.com/path", "exa mple.com", "*.", "**.example.com",
     "a.*.example.com", "example.*", "user@example.com", "example.com:80", "", ".", "..com",
     "*.127.0.0.1", "10.0.0.300.1"],
)  # fmt: skip
def test_bad_patterns_are_refused_naming_them(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"pattern|host name"):
        HostAllowlist([pattern])


def test_one_string_is_not_a_list_of_patterns() -> None:
    with pytest.raises(TypeError, match="list"):
        HostAllowlist("example.com")


def test_the_list_shows_its_patterns_normalised_and_compares_by_them() -> None:
    allow = HostAllowlist(["Example.COM.", "example.com", "*.Bücher.example", "[::1]", "10.0.0.5"])
    assert allow.patterns == ("example.com", "*.xn--bcher-kva.example", "::1", "10.0.0.5")
    assert allow == HostAllowlist(["10.0.0.5", "::1", "*.xn--bcher-kva.example", "example.com"])
    assert allow != HostAllowlist(["example.com"])
    assert not allow.allows_any and not allow.allows_none
    assert HostAllowlist().allows_none and HostAllowlist([]).patterns == ()
    assert ALLOW_ANY.allows_any and ALLOW_ANY.patterns == ("*",)
    assert "example.com" in repr(allow)


# -- the handler ---------------------------------------------------------------------------------


async def test_a_host_not_allowed_is_refused_before_any_connection() -> None:
    # Port 9 on loopback: nothing listens, so a connection would fail differently.
    handler = HttpRequest(["api.example.com", "*.internal"])
    with pytest.raises(HostNotAllowed) as refused:
        await handler({"url": "http://127.0.0.1:9/x"})
    assert isinstance(refused.value, NonRetryableError)
    assert str(refused.value) == (
        "http.request may not call host '127.0.0.1': it is not in JOBQ_HTTP_ALLOW "
        "(allowed: api.example.com, *.internal)"
    )


async def test_an_empty_list_refuses_every_host_saying_how_to_allow_some() -> None:
    with pytest.raises(HostNotAllowed) as refused:
        await HttpRequest([])({"url": "http://localhost:9/"})
    message = str(refused.value)
    assert message.startswith("http.request may not call host 'localhost': ")
    assert "JOBQ_HTTP_ALLOW allows no host" in message
    assert "set it to the hosts this job may call" in message


async def test_a_bad_payload_is_still_reported_as_such() -> None:
    with pytest.raises(NonRetryableError, match=r"invalid payload for http\.request: url"):
        await HttpRequest([])({"url": "not a url"})


def test_builtin_registry_binds_http_request_to_the_patterns_given() -> None:
    default = builtin_registry().get("http.request")
    assert default is not None and default.handler is http_request
    assert http_request.allow == ALLOW_ANY  # library use: any host, as before
    bound = builtin_registry(http_allow=["example.com"]).get("http.request")
    assert bound is not None and isinstance(bound.handler, HttpRequest)
    assert bound.handler.allow == HostAllowlist(["example.com"])
    assert bound.max_attempts == 5 and bound.is_async and not bound.takes_context
    assert builtin_registry(http_allow=ALLOW_ANY).get("http.request").handler is http_request  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="not a host name"):
        builtin_registry(http_allow=["http://example.com"])


# -- what jobq processes register ----------------------------------------------------------------


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module of handlers, importable under a name no other test uses."""
    name = f"http_allow_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            from jobq import Backoff, JobQueue, Registry
            from jobq.builtin_jobs import builtin_registry, http_request

            # registers the built-ins itself
            plain = JobQueue("sqlite:///unused.db")

            # its own http.request (JobQueue adds the built-ins at once: give it first)
            mine = Registry()

            @mine.job("http.request")
            async def own_http(payload):
                return {"mine": True}

            own = JobQueue("sqlite:///unused.db", registry=mine)

            # the built-in handler under another name, with options of its own
            renamed = JobQueue("sqlite:///unused.db")
            renamed.job("webhook", max_attempts=2, backoff=Backoff(base_seconds=7))(
                http_request
            )

            # built-ins bound in code to a list of its own
            bound = JobQueue(
                "sqlite:///unused.db",
                registry=builtin_registry(http_allow=["*"]),
                builtins=False,
            )

            # a Registry, as --app may also name
            handlers = Registry()

            @handlers.job("ping")
            async def ping(payload):
                return "pong"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _registry(env: dict[str, str], *, serves_api: bool = True) -> Registry:
    return load_registry(load_settings(env), serves_api=serves_api)


def _allow_of(registry: Registry, name: str = "http.request") -> HostAllowlist:
    job_type = registry.get(name)
    assert job_type is not None
    assert isinstance(job_type.handler, HttpRequest), job_type.handler
    return job_type.handler.allow


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ["*"]),
        ({"JOBQ_HOST": "0.0.0.0"}, []),
        ({"JOBQ_HOST": "::1"}, ["*"]),
        ({"JOBQ_HOST": "0.0.0.0", "JOBQ_HTTP_ALLOW": "127.0.0.1, *.example.com"},
         ["127.0.0.1", "*.example.com"]),
        ({"JOBQ_HTTP_ALLOW": "api.example.com"}, ["api.example.com"]),
    ],
)  # fmt: skip
def test_processes_bind_http_request_to_the_setting(
    env: dict[str, str], expected: list[str]
) -> None:
    assert _allow_of(_registry(env)) == HostAllowlist(expected)


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_worker_calls_no_host_unless_told(host: str) -> None:
    """A jobq worker serves no API and cannot know who may enqueue: unset, no host."""
    assert _allow_of(_registry({"JOBQ_HOST": host}, serves_api=False)) == HostAllowlist([])
    told = _registry({"JOBQ_HOST": host, "JOBQ_HTTP_ALLOW": "*"}, serves_api=False)
    assert _allow_of(told) == HostAllowlist(["*"])


@pytest.mark.parametrize("attribute", ["plain", "bound", "handlers"])
def test_the_setting_replaces_the_builtin_an_app_registered(
    app_module: str, attribute: str
) -> None:
    env = {"JOBQ_HOST": "0.0.0.0", "JOBQ_APP": f"{app_module}:{attribute}"}
    registry = _registry(env)
    assert _allow_of(registry).allows_none
    with_list = _registry({**env, "JOBQ_HTTP_ALLOW": "hooks.example.com"})
    assert _allow_of(with_list) == HostAllowlist(["hooks.example.com"])
    assert {"echo", "sleep", "http.request"} <= set(registry.names())


def test_the_app_objects_are_left_as_they_are(app_module: str) -> None:
    _registry({"JOBQ_HOST": "0.0.0.0", "JOBQ_APP": f"{app_module}:plain"})
    app = sys.modules[app_module]
    assert isinstance(app.plain, JobQueue)
    assert app.plain.registry.get("http.request").handler is http_request


def test_an_apps_own_http_request_handler_is_kept(app_module: str) -> None:
    registry = _registry({"JOBQ_HOST": "0.0.0.0", "JOBQ_APP": f"{app_module}:own"})
    job_type = registry.get("http.request")
    assert job_type is not None
    assert not is_builtin_http_request(job_type.handler)
    assert job_type.handler is sys.modules[app_module].own_http.__wrapped__


def test_the_builtin_handler_under_another_name_is_bound_too_keeping_its_options(
    app_module: str,
) -> None:
    registry = _registry(
        {"JOBQ_HTTP_ALLOW": "hooks.example.com", "JOBQ_APP": f"{app_module}:renamed"}
    )
    assert _allow_of(registry, "webhook") == HostAllowlist(["hooks.example.com"])
    webhook = registry.get("webhook")
    original = sys.modules[app_module].renamed.registry.get("webhook")
    assert webhook is not None and original is not None
    assert webhook == dataclasses.replace(original, handler=webhook.handler)
    assert webhook.max_attempts == 2 and webhook.backoff == Backoff(base_seconds=7)


def test_a_pattern_the_setting_took_but_the_list_refuses_exits_2_naming_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The setting checks the shape; the list also refuses names ending in a number.
    with pytest.raises(SystemExit) as exited:
        _registry({"JOBQ_HTTP_ALLOW": "api.example.com,*.0.0.1"})
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "invalid setting JOBQ_HTTP_ALLOW='api.example.com,*.0.0.1'" in error
    assert "'*.0.0.1' is not a valid *.domain pattern" in error
