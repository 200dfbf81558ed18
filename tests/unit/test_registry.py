"""The registry of job types, and the built-in types."""

from __future__ import annotations

from typing import Any

import pytest

from jobq.builtin_jobs import builtin_registry, echo, http_request, sleep
from jobq.domain.job import DEFAULT_MAX_ATTEMPTS, Backoff
from jobq.registry import DEFAULT_TIMEOUT, JobType, Registry, make_job_type
from jobq.typed import TypedJob


def test_decorator_registers_under_given_name() -> None:
    reg = Registry()

    @reg.job("mail.send")
    async def send(payload: dict[str, Any]) -> None:
        return None

    assert "mail.send" in reg
    assert "send" not in reg
    job_type = reg.get("mail.send")
    assert job_type is not None
    assert job_type.name == "mail.send"
    assert job_type.handler is send.__wrapped__
    assert len(reg) == 1


def test_decorator_returns_a_typed_job_that_still_calls_the_function() -> None:
    reg = Registry()

    def handler(payload: dict[str, Any]) -> int:
        """Forty-one."""
        return 41

    typed = reg.job()(handler)
    assert isinstance(typed, TypedJob)
    assert typed({}) == 41
    assert typed.__wrapped__ is handler and typed.__doc__ == "Forty-one."
    assert typed.__name__ == "handler" and typed.name == "handler"


def test_decorator_defaults_to_function_name() -> None:
    reg = Registry()

    @reg.job()
    def resize_image(payload: dict[str, Any]) -> None:
        return None

    assert reg.names() == ["resize_image"]
    assert reg.get("resize_image") is not None


def test_defaults_of_a_job_type() -> None:
    reg = Registry()

    @reg.job("t")
    def handler(payload: dict[str, Any]) -> None:
        return None

    job_type = reg.get("t")
    assert job_type is not None
    assert job_type.max_attempts == DEFAULT_MAX_ATTEMPTS == 3
    assert job_type.timeout == DEFAULT_TIMEOUT == 300.0
    assert job_type.backoff == Backoff()
    assert job_type.non_retryable == ()


def test_options_are_kept() -> None:
    backoff = Backoff(base_seconds=1, max_seconds=5, jitter=False)

    class Permanent(Exception):
        pass

    job_type = make_job_type(
        "t",
        lambda payload: None,
        max_attempts=1000,
        timeout=None,
        backoff=backoff,
        non_retryable=(Permanent,),
    )
    assert job_type.max_attempts == 1000
    assert job_type.timeout is None
    assert job_type.backoff is backoff
    assert job_type.non_retryable == (Permanent,)


def test_async_function_detected() -> None:
    async def handler(payload: dict[str, Any]) -> None:
        return None

    assert make_job_type("a", handler).is_async is True


def test_sync_function_detected() -> None:
    def handler(payload: dict[str, Any]) -> None:
        return None

    assert make_job_type("s", handler).is_async is False
    assert make_job_type("l", lambda payload: None).is_async is False


def test_async_callable_object_detected() -> None:
    class Handler:
        async def __call__(self, payload: dict[str, Any]) -> None:
            return None

    job_type = make_job_type("obj", Handler())
    assert job_type.is_async is True
    assert job_type.takes_context is False


def test_sync_callable_object_with_context() -> None:
    class Handler:
        def __call__(self, payload: dict[str, Any], ctx: Any) -> None:
            return None

    job_type = make_job_type("obj", Handler())
    assert job_type.is_async is False
    assert job_type.takes_context is True


def test_payload_only_vs_payload_and_ctx() -> None:
    def one(payload: dict[str, Any]) -> None:
        return None

    async def two(payload: dict[str, Any], ctx: Any) -> None:
        return None

    def keyword_only_extra(payload: dict[str, Any], *, verbose: bool = False) -> None:
        return None

    def star_args(*args: Any) -> None:
        return None

    assert make_job_type("one", one).takes_context is False
    assert make_job_type("two", two).takes_context is True
    assert make_job_type("kw", keyword_only_extra).takes_context is False
    assert make_job_type("star", star_args).takes_context is True


def test_zero_positional_parameters_refused() -> None:
    def none() -> None:
        return None

    with pytest.raises(TypeError, match=r"'none' must take \(payload\) or \(payload, ctx\)"):
        make_job_type("none", none)


def test_three_positional_parameters_refused() -> None:
    async def three(payload: Any, ctx: Any, extra: Any) -> None:
        return None

    with pytest.raises(TypeError, match="takes 3 positional"):
        make_job_type("three", three)


def test_only_keyword_parameters_refused() -> None:
    def kw(*, payload: Any) -> None:
        return None

    with pytest.raises(TypeError, match="takes 0 positional"):
        make_job_type("kw", kw)


def test_not_callable_refused() -> None:
    with pytest.raises(TypeError, match="not callable"):
        make_job_type("x", 42)  # type: ignore[arg-type]


def test_decorator_refuses_bad_handler_shape() -> None:
    reg = Registry()
    with pytest.raises(TypeError):
        reg.job("x")(lambda: None)
    assert len(reg) == 0


@pytest.mark.parametrize(
    "name",
    ["", " ", "has space", "-leading-dash", ".dot", "_under", "slash/inside", "é", "x" * 201],
)
def test_bad_names_refused(name: str) -> None:
    with pytest.raises(ValueError, match="job type"):
        make_job_type(name, lambda payload: None)


@pytest.mark.parametrize("name", ["a", "A9", "mail.send", "x:y", "a-b_c", "9lives", "x" * 200])
def test_good_names_accepted(name: str) -> None:
    assert make_job_type(name, lambda payload: None).name == name


@pytest.mark.parametrize("max_attempts", [0, -1, 1001])
def test_bad_max_attempts_refused(max_attempts: int) -> None:
    with pytest.raises(ValueError, match=f"max_attempts must be 1..1000, not {max_attempts}"):
        make_job_type("t", lambda payload: None, max_attempts=max_attempts)


@pytest.mark.parametrize("max_attempts", [1, 1000])
def test_max_attempts_bounds_accepted(max_attempts: int) -> None:
    assert make_job_type("t", lambda p: None, max_attempts=max_attempts).max_attempts == (
        max_attempts
    )


@pytest.mark.parametrize("timeout", [0, 0.0, -1.5])
def test_bad_timeout_refused(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        make_job_type("t", lambda payload: None, timeout=timeout)


def test_decorator_passes_options_through() -> None:
    reg = Registry()
    with pytest.raises(ValueError, match="max_attempts"):
        reg.job("t", max_attempts=0)(lambda payload: None)
    with pytest.raises(ValueError, match="timeout"):
        reg.job("t", timeout=0)(lambda payload: None)
    assert len(reg) == 0


def test_duplicate_registration_refused() -> None:
    reg = Registry()
    reg.job("dup")(lambda payload: 1)
    first = reg.get("dup")
    with pytest.raises(ValueError, match="'dup' is registered already"):
        reg.job("dup")(lambda payload: 2)
    assert reg.get("dup") is first
    assert len(reg) == 1


def test_include() -> None:
    a, b = Registry(), Registry()
    a.job("one")(lambda payload: 1)
    b.job("two")(lambda payload: 2)
    b.job("three")(lambda payload: 3)
    a.include(b)
    assert a.names() == ["one", "three", "two"]
    assert a.get("two") is b.get("two")
    assert b.names() == ["three", "two"]


def test_include_clash_refused() -> None:
    a, b = Registry(), Registry()
    a.job("same")(lambda payload: 1)
    b.job("same")(lambda payload: 2)
    with pytest.raises(ValueError, match="'same'"):
        a.include(b)


def test_names_sorted_and_iteration() -> None:
    reg = Registry()
    for name in ["zeta", "alpha", "Mu", "beta.2", "beta.10"]:
        reg.job(name)(lambda payload: None)
    assert reg.names() == ["Mu", "alpha", "beta.10", "beta.2", "zeta"]
    assert [t.name for t in reg] == ["zeta", "alpha", "Mu", "beta.2", "beta.10"]
    assert all(isinstance(t, JobType) for t in reg)


def test_get_missing_and_contains() -> None:
    reg = Registry()
    assert reg.get("nope") is None
    assert "nope" not in reg
    assert 3 not in reg
    assert len(reg) == 0
    assert reg.names() == []


def test_builtin_registry() -> None:
    reg = builtin_registry()
    assert reg.names() == ["echo", "http.request", "sleep"]
    assert len(reg) == 3
    sleep_type, echo_type, http_type = reg.get("sleep"), reg.get("echo"), reg.get("http.request")
    assert sleep_type is not None
    assert echo_type is not None
    assert http_type is not None
    assert sleep_type.handler is sleep
    assert echo_type.handler is echo
    assert http_type.handler is http_request
    assert sleep_type.timeout is None
    assert http_type.max_attempts == 5
    assert echo_type.max_attempts == 3
    assert all(t.is_async and not t.takes_context for t in reg)


def test_builtin_registry_is_fresh_each_time() -> None:
    first = builtin_registry()
    first.job("extra")(lambda payload: None)
    assert builtin_registry().names() == ["echo", "http.request", "sleep"]


async def test_echo_returns_payload() -> None:
    assert await echo({"a": [1, 2]}) == {"a": [1, 2]}
