"""``JobQueue.new_job``: defaults and every refusal, without a store."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from jobq.clock import FakeClock
from jobq.domain.errors import InvalidJob, JobqError, UnknownJobType
from jobq.domain.job import Backoff, NewJob
from jobq.jobqueue import JobQueue
from jobq.registry import Registry

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def jq(fake_clock: FakeClock) -> JobQueue:
    queue = JobQueue("sqlite:///never-opened.db", clock=fake_clock)

    @queue.job("mail.send", max_attempts=7)
    async def send(payload: dict[str, Any]) -> None:
        return None

    return queue


def test_defaults(jq: JobQueue) -> None:
    job = jq.new_job("mail.send")
    assert isinstance(job, NewJob)
    assert job.type == "mail.send"
    assert job.payload == {}
    assert job.queue == "default"
    assert job.priority == 0
    assert job.run_at is None
    assert job.max_attempts == 7  # from the registration
    assert job.timeout is None
    assert job.backoff is None
    assert job.idempotency_key is None


def test_new_job_does_not_open_the_store(jq: JobQueue) -> None:
    jq.new_job("echo", {"x": 1})
    with pytest.raises(JobqError, match="not open"):
        _ = jq.store


def test_max_attempts_from_builtin_registration(jq: JobQueue) -> None:
    assert jq.new_job("http.request", {"url": "http://x"}).max_attempts == 5
    assert jq.new_job("echo").max_attempts == 3


def test_max_attempts_default_for_unknown_type(fake_clock: FakeClock) -> None:
    jq = JobQueue(accept_unknown_types=True, clock=fake_clock)
    job = jq.new_job("elsewhere.run", {"a": 1})
    assert job.max_attempts == 3
    assert job.type == "elsewhere.run"


def test_explicit_max_attempts_wins(jq: JobQueue) -> None:
    assert jq.new_job("mail.send", max_attempts=1).max_attempts == 1
    assert jq.new_job("mail.send", max_attempts=1000).max_attempts == 1000


def test_fields_kept(jq: JobQueue) -> None:
    backoff = Backoff(base_seconds=1, max_seconds=2, jitter=False)
    payload = {"to": "a@example.com"}
    job = jq.new_job(
        "mail.send",
        payload,
        queue="mail",
        priority=-5,
        timeout=12.5,
        backoff=backoff,
        idempotency_key="k" * 255,
    )
    assert job.payload == payload
    assert job.payload is not payload  # copied
    assert job.queue == "mail"
    assert job.priority == -5
    assert job.timeout == 12.5
    assert job.backoff is backoff
    assert job.idempotency_key == "k" * 255


def test_payload_mapping_becomes_dict(jq: JobQueue) -> None:
    from types import MappingProxyType

    job = jq.new_job("echo", MappingProxyType({"a": 1}))
    assert type(job.payload) is dict
    assert job.payload == {"a": 1}


def test_delay_computes_run_at_from_clock(jq: JobQueue, fake_clock: FakeClock) -> None:
    job = jq.new_job("echo", delay=90)
    assert job.run_at == START + timedelta(seconds=90)
    assert job.run_at is not None
    assert job.run_at.tzinfo is not None
    assert job.run_at.utcoffset() == timedelta(0)

    fake_clock.advance(3600)
    later = jq.new_job("echo", delay=0.5)
    assert later.run_at == START + timedelta(seconds=3600.5)


def test_delay_zero_is_now(jq: JobQueue) -> None:
    assert jq.new_job("echo", delay=0).run_at == START


def test_run_at_converted_to_utc(jq: JobQueue) -> None:
    plus2 = timezone(timedelta(hours=2))
    job = jq.new_job("echo", run_at=datetime(2027, 1, 1, 14, 0, tzinfo=plus2))
    assert job.run_at == datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    assert job.run_at is not None
    assert job.run_at.utcoffset() == timedelta(0)


def test_priority_bounds_accepted(jq: JobQueue) -> None:
    assert jq.new_job("echo", priority=-32768).priority == -32768
    assert jq.new_job("echo", priority=32767).priority == 32767


def test_delay_upper_bound_accepted(jq: JobQueue) -> None:
    ten_years = 10 * 365 * 86400.0
    assert jq.new_job("echo", delay=ten_years).run_at == START + timedelta(seconds=ten_years)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"run_at": datetime(2030, 1, 1)}, "run_at"),  # naive
        ({"delay": 5, "run_at": START}, "delay or run_at"),
        ({"delay": 0, "run_at": START}, "delay or run_at"),
        ({"priority": -32769}, "priority"),
        ({"priority": 32768}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 1001}, "max_attempts"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"delay": math.nan}, "delay"),
        ({"delay": -1}, "delay"),
        ({"delay": -0.001}, "delay"),
        ({"delay": math.inf}, "delay"),
        ({"delay": 10 * 365 * 86400.0 + 1}, "delay"),
        ({"idempotency_key": "k" * 256}, "idempotency_key"),
        ({"idempotency_key": ""}, "idempotency_key"),
        ({"queue": "bad name"}, "queue"),
        ({"queue": ""}, "queue"),
    ],
)
def test_invalid_options(jq: JobQueue, options: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidJob) as info:
        jq.new_job("echo", {"a": 1}, **options)
    assert field in str(info.value)


@pytest.mark.parametrize("payload", [[1, 2], "text", 3, ("a", 1)])
def test_non_dict_payload_refused(jq: JobQueue, payload: Any) -> None:
    with pytest.raises(InvalidJob, match="payload must be a JSON object"):
        jq.new_job("echo", payload)


def test_bad_type_name_is_invalid_job(jq: JobQueue) -> None:
    with pytest.raises(InvalidJob, match="job type"):
        jq.new_job("bad type")


def test_unknown_type_raises(jq: JobQueue) -> None:
    with pytest.raises(UnknownJobType) as info:
        jq.new_job("no.such.type", {})
    message = str(info.value)
    assert "'no.such.type'" in message
    assert "echo, http.request, mail.send, sleep" in message


def test_unknown_type_accepted_when_allowed(fake_clock: FakeClock) -> None:
    jq = JobQueue(accept_unknown_types=True, clock=fake_clock)
    assert jq.new_job("no.such.type").type == "no.such.type"


def test_unknown_type_without_builtins(fake_clock: FakeClock) -> None:
    jq = JobQueue(builtins=False, clock=fake_clock)
    with pytest.raises(UnknownJobType):
        jq.new_job("echo")


def test_own_registry_keeps_its_handler_over_builtin(fake_clock: FakeClock) -> None:
    reg = Registry()
    reg.job("echo", max_attempts=9)(lambda payload: payload)
    jq = JobQueue(registry=reg, clock=fake_clock)
    assert jq.new_job("echo").max_attempts == 9
    assert jq.registry.names() == ["echo", "http.request", "sleep"]


@pytest.mark.parametrize("name", ["reports\n", "reports\r\n", "a\nb", "\nreports"])
def test_a_name_with_a_line_break_is_refused(name: str) -> None:
    jq = JobQueue(accept_unknown_types=True)
    with pytest.raises(InvalidJob):
        jq.new_job("echo", {}, queue=name)
    with pytest.raises(InvalidJob):
        jq.new_job(name, {})
