"""The HTTP API against a real uvicorn server on loopback and a real SQLite file: every endpoint,
each of its error codes, and that a rejected request stores nothing."""

from __future__ import annotations

import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobq.api.limits import Limits
from jobq.domain.job import Backoff
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.worker import PoolConfig, WorkerPool
from tests.helpers import live_server, wait_for
from tests.jobs import stored

JOB_FIELDS = {
    "id",
    "queue",
    "type",
    "payload",
    "status",
    "priority",
    "run_at",
    "attempt",
    "max_attempts",
    "timeout",
    "backoff",
    "result",
    "last_error",
    "dead_reason",
    "worker_id",
    "lease_expires_at",
    "idempotency_key",
    "created_at",
    "started_at",
    "finished_at",
    "progress",
    "progress_message",
    "workflow_id",
    "parents",
}
STATES = ["waiting", "pending", "running", "succeeded", "failed", "dead", "cancelled"]


# -- helpers --------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_pool(jq: JobQueue, workers: int = 2) -> AsyncIterator[WorkerPool]:
    pool = jq.worker_pool(PoolConfig(worker_count=workers, poll_interval=0.05, shutdown_timeout=5))
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()
        jq.detach(pool)


@contextlib.asynccontextmanager
async def served_with_pool(
    jq: JobQueue,
) -> AsyncIterator[tuple[httpx.AsyncClient, WorkerPool]]:
    async with (
        running_pool(jq) as pool,
        live_server(jq, pool=pool) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client, pool


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def assert_error(
    response: httpx.Response, status: int, code: str, *mentions: str
) -> dict[str, Any]:
    """The response is ``status`` with the one error shape, ``code``, and a message naming each
    of ``mentions``; return the error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str)
    assert error["message"]
    for mention in mentions:
        assert mention in error["message"], (mention, error["message"])
    return error


def detail_fields(error: dict[str, Any]) -> list[str]:
    assert isinstance(error["details"], list), error
    return [detail["field"] for detail in error["details"]]


async def post_job(api: httpx.AsyncClient, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    response = await api.post("/jobs", json=body, **kwargs)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def job_status(api: httpx.AsyncClient, job_id: str) -> str:
    response = await api.get(f"/jobs/{job_id}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


# -- POST /jobs: accepted ------------------------------------------------------------------


async def test_enqueue_returns_the_full_pending_job(api: httpx.AsyncClient, jq: JobQueue) -> None:
    before = datetime.now(UTC)
    response = await api.post("/jobs", json={"type": "echo", "payload": {"n": 1, "s": "é"}})
    after = datetime.now(UTC)

    assert response.status_code == 201, response.text
    job = response.json()
    assert set(job) == JOB_FIELDS
    parsed = uuid.UUID(job["id"])
    assert parsed.version == 7
    assert str(parsed) == job["id"]
    assert job["type"] == "echo"
    assert job["payload"] == {"n": 1, "s": "é"}
    assert job["status"] == "pending"
    assert job["attempt"] == 0
    assert job["max_attempts"] == 3
    assert job["queue"] == "default"
    assert job["priority"] == 0
    assert job["idempotency_key"] is None
    assert job["result"] is None
    assert job["last_error"] is None
    assert job["worker_id"] is None
    created = when(job["created_at"])
    assert created.tzinfo is not None
    assert before - timedelta(seconds=1) <= created <= after + timedelta(seconds=1)
    assert when(job["run_at"]) <= after + timedelta(seconds=1)
    # and it is stored: GET returns the same job
    fetched = (await api.get(f"/jobs/{job['id']}")).json()
    assert {k: v for k, v in fetched.items() if k != "attempts"} == job
    assert fetched["attempts"] == []
    assert await stored(jq) == 1


async def test_enqueue_fields_round_trip(api: httpx.AsyncClient) -> None:
    job = await post_job(
        api,
        {
            "type": "echo",
            "payload": {"a": [1, 2, {"b": None}]},
            "queue": "emails:eu-1",
            "priority": -32768,
            "max_attempts": 9,
            "timeout": 12.5,
            "backoff": {"base_seconds": 1.5, "max_seconds": 30, "jitter": False},
        },
    )
    assert job["queue"] == "emails:eu-1"
    assert job["priority"] == -32768
    assert job["max_attempts"] == 9
    assert job["timeout"] == 12.5
    assert job["backoff"] == {"base_seconds": 1.5, "max_seconds": 30.0, "jitter": False}
    assert job["payload"] == {"a": [1, 2, {"b": None}]}

    top = await post_job(api, {"type": "echo", "priority": 32767})
    assert top["priority"] == 32767


async def test_enqueue_with_delay_is_due_later(api: httpx.AsyncClient) -> None:
    job = await post_job(api, {"type": "echo", "delay": 60})
    due = when(job["run_at"]) - when(job["created_at"])
    assert timedelta(seconds=59) <= due <= timedelta(seconds=61)
    assert when(job["run_at"]) > datetime.now(UTC) + timedelta(seconds=50)


async def test_enqueue_with_run_at_keeps_the_instant(api: httpx.AsyncClient) -> None:
    job = await post_job(api, {"type": "echo", "run_at": "2030-01-01T12:00:00+02:00"})
    run_at = when(job["run_at"])
    assert run_at.tzinfo is not None
    assert run_at == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    fetched = (await api.get(f"/jobs/{job['id']}")).json()
    assert when(fetched["run_at"]) == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)


async def test_max_attempts_defaults_to_the_registered_types(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    @jq.job("seven.tries", max_attempts=7)
    async def seven(payload: dict[str, Any]) -> None:
        return None

    assert (await post_job(api, {"type": "seven.tries"}))["max_attempts"] == 7
    assert (await post_job(api, {"type": "http.request"}))["max_attempts"] == 5
    assert (await post_job(api, {"type": "seven.tries", "max_attempts": 2}))["max_attempts"] == 2


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/vnd.jobq+json", "Application/JSON"],
)
async def test_json_media_types_are_accepted(api: httpx.AsyncClient, content_type: str) -> None:
    response = await api.post(
        "/jobs", content=b'{"type": "echo"}', headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


# -- POST /jobs: idempotency -------------------------------------------------------------


async def test_idempotency_key_header(api: httpx.AsyncClient, jq: JobQueue) -> None:
    headers = {"Idempotency-Key": "order-1"}
    first = await api.post("/jobs", json={"type": "echo", "payload": {"n": 1}}, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["idempotency_key"] == "order-1"
    again = await api.post("/jobs", json={"type": "echo", "payload": {"n": 1}}, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    # the same key in the body field names the same job
    field = await api.post(
        "/jobs", json={"type": "echo", "payload": {"n": 1}, "idempotency_key": "order-1"}
    )
    assert field.status_code == 200, field.text
    assert field.json()["id"] == first.json()["id"]
    assert await stored(jq) == 1


async def test_idempotency_key_field(api: httpx.AsyncClient, jq: JobQueue) -> None:
    body = {"type": "echo", "payload": {"n": 2}, "idempotency_key": "k-field"}
    first = await api.post("/jobs", json=body)
    assert first.status_code == 201, first.text
    again = await api.post("/jobs", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    # header and field agreeing is fine too
    both = await api.post("/jobs", json=body, headers={"Idempotency-Key": "k-field"})
    assert both.status_code == 200, both.text
    assert both.json()["id"] == first.json()["id"]
    other = await api.post("/jobs", json={**body, "idempotency_key": "k-other"})
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]
    assert await stored(jq) == 2


async def test_idempotency_header_and_field_that_differ(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    response = await api.post(
        "/jobs",
        json={"type": "echo", "idempotency_key": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert_error(response, 422, "invalid_job", "Idempotency-Key", "idempotency_key")
    assert await stored(jq) == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"payload": {"n": 2}}, "payload"),
        ({"type": "sleep"}, "type"),
        ({"queue": "other"}, "queue"),
    ],
)
async def test_idempotency_conflict(
    api: httpx.AsyncClient, jq: JobQueue, change: dict[str, Any], named: str
) -> None:
    body = {"type": "echo", "payload": {"n": 1}}
    headers = {"Idempotency-Key": "dup"}
    first = await post_job(api, body, headers=headers)
    response = await api.post("/jobs", json={**body, **change}, headers=headers)
    error = assert_error(response, 409, "idempotency_conflict", "dup", named, first["id"])
    assert error["details"] is None
    assert await stored(jq) == 1
    unchanged = (await api.get(f"/jobs/{first['id']}")).json()
    assert unchanged["payload"] == {"n": 1}
    assert unchanged["type"] == "echo"


async def test_idempotency_key_header_too_long(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.post(
        "/jobs", json={"type": "echo"}, headers={"Idempotency-Key": "k" * 256}
    )
    error = assert_error(response, 422, "validation_error", "Idempotency-Key")
    assert "Idempotency-Key" in detail_fields(error)
    assert await stored(jq) == 0


# -- POST /jobs: rejected ----------------------------------------------------------------

VALIDATION_CASES = [
    pytest.param({"type": "echo", "colour": "red"}, "colour", id="extra-field"),
    pytest.param({"payload": {}}, "type", id="missing-type"),
    pytest.param({"type": 5}, "type", id="type-not-a-string"),
    pytest.param({"type": "bad type!"}, "type", id="type-bad-name"),
    pytest.param({"type": "echo", "payload": [1, 2]}, "payload", id="payload-list"),
    pytest.param({"type": "echo", "payload": "text"}, "payload", id="payload-string"),
    pytest.param({"type": "echo", "priority": 32768}, "priority", id="priority-too-high"),
    pytest.param({"type": "echo", "priority": -32769}, "priority", id="priority-too-low"),
    pytest.param({"type": "echo", "priority": 1.5}, "priority", id="priority-fraction"),
    pytest.param(
        {"type": "echo", "delay": 5, "run_at": "2030-01-01T00:00:00Z"},
        "body",
        id="delay-and-run_at",
    ),
    pytest.param({"type": "echo", "run_at": "2030-01-01T00:00:00"}, "run_at", id="run_at-naive"),
    pytest.param({"type": "echo", "run_at": "tomorrow"}, "run_at", id="run_at-garbage"),
    pytest.param({"type": "echo", "delay": -1}, "delay", id="delay-negative"),
    pytest.param({"type": "echo", "queue": "no spaces"}, "queue", id="queue-bad-name"),
    pytest.param({"type": "echo", "queue": ""}, "queue", id="queue-empty"),
    pytest.param({"type": "echo", "queue": "q" * 201}, "queue", id="queue-too-long"),
    pytest.param({"type": "echo", "max_attempts": 0}, "max_attempts", id="max_attempts-0"),
    pytest.param({"type": "echo", "max_attempts": 1001}, "max_attempts", id="max_attempts-1001"),
    pytest.param({"type": "echo", "timeout": 0}, "timeout", id="timeout-0"),
    pytest.param({"type": "echo", "idempotency_key": ""}, "idempotency_key", id="key-empty"),
    pytest.param(
        {"type": "echo", "idempotency_key": "k" * 256}, "idempotency_key", id="key-too-long"
    ),
    pytest.param(
        {"type": "echo", "backoff": {"base_seconds": 1, "x": 1}}, "backoff.x", id="backoff-extra"
    ),
    pytest.param(
        {"type": "echo", "backoff": {"base_seconds": -1}},
        "backoff.base_seconds",
        id="backoff-negative",
    ),
    pytest.param([{"type": "echo"}], "body", id="body-is-a-list"),
]


@pytest.mark.parametrize(("body", "field"), VALIDATION_CASES)
async def test_enqueue_validation_errors(
    api: httpx.AsyncClient, jq: JobQueue, body: Any, field: str
) -> None:
    await post_job(api, {"type": "echo"})  # something stored already, to see it stays 1
    response = await api.post("/jobs", json=body)
    error = assert_error(response, 422, "validation_error", field)
    assert field in detail_fields(error)
    for detail in error["details"]:
        assert set(detail) == {"field", "message"}
        assert detail["message"]
    assert await stored(jq) == 1


async def test_enqueue_unknown_type(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.post("/jobs", json={"type": "no.such.type", "payload": {}})
    error = assert_error(response, 422, "unknown_job_type", "no.such.type")
    assert "echo" in error["message"]  # it says which types it knows
    assert await stored(jq) == 0


async def test_enqueue_invalid_json(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.post(
        "/jobs",
        content=b'{"type": "echo", "payload": ',
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400, "invalid_json", "JSON")
    assert await stored(jq) == 0


async def test_enqueue_text_plain_is_415(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.post(
        "/jobs", content=b'{"type": "echo"}', headers={"Content-Type": "text/plain"}
    )
    assert_error(response, 415, "unsupported_media_type", "text/plain", "application/json")
    assert await stored(jq) == 0


async def test_enqueue_without_content_type_is_415(api: httpx.AsyncClient, jq: JobQueue) -> None:
    request = api.build_request("POST", "/jobs", content=b'{"type": "echo"}')
    assert "content-type" not in request.headers
    response = await api.send(request)
    assert_error(response, 415, "unsupported_media_type", "none")
    assert await stored(jq) == 0


async def test_nan_in_payload_is_rejected_not_a_crash(api: httpx.AsyncClient, jq: JobQueue) -> None:
    for raw, named in (
        (b'{"type":"echo","payload":{"x":NaN}}', "NaN"),
        (b'{"type":"echo","payload":{"x":Infinity}}', "Infinity"),
        (b'{"type":"echo","payload":{"x":[1e400]}}', "1e400"),
    ):
        response = await api.post(
            "/jobs", content=raw, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "invalid_json", named)
    assert await stored(jq) == 0


@pytest.mark.parametrize("run_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
async def test_run_at_out_of_range_is_rejected_not_a_crash(
    api: httpx.AsyncClient, jq: JobQueue, run_at: str
) -> None:
    response = await api.post("/jobs", json={"type": "echo", "run_at": run_at})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] in {"invalid_job", "validation_error"}
    assert "run_at" in error["message"]
    assert await stored(jq) == 0


# -- body size limit ---------------------------------------------------------------------

LIMIT = 2048


def job_bytes(size: int) -> bytes:
    """A valid job body of exactly ``size`` bytes."""
    head, tail = b'{"type":"echo","payload":{"pad":"', b'"}}'
    body = head + b"x" * (size - len(head) - len(tail)) + tail
    assert len(body) == size
    json.loads(body)
    return body


@pytest.fixture
async def small_api(jq: JobQueue) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        live_server(jq, limits=Limits(max_body_bytes=LIMIT)) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        yield client


JSON_HEADERS = {"Content-Type": "application/json"}


async def test_body_at_the_limit_is_accepted(small_api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await small_api.post("/jobs", content=job_bytes(LIMIT), headers=JSON_HEADERS)
    assert response.status_code == 201, response.text
    assert await stored(jq) == 1


async def test_body_over_the_limit_with_content_length(
    small_api: httpx.AsyncClient, jq: JobQueue
) -> None:
    body = job_bytes(LIMIT + 1)
    request = small_api.build_request("POST", "/jobs", content=body, headers=JSON_HEADERS)
    assert request.headers["content-length"] == str(LIMIT + 1)
    response = await small_api.send(request)
    assert_error(response, 413, "payload_too_large", str(LIMIT))
    assert await stored(jq) == 0


async def chunks(body: bytes, size: int = 512) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def test_body_over_the_limit_chunked(small_api: httpx.AsyncClient, jq: JobQueue) -> None:
    request = small_api.build_request(
        "POST", "/jobs", content=chunks(job_bytes(2 * LIMIT), size=1024), headers=JSON_HEADERS
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await small_api.send(request)
    assert_error(response, 413, "payload_too_large", str(LIMIT))
    assert await stored(jq) == 0


@pytest.mark.parametrize(("total", "size"), [(3 * LIMIT, 512), (50 * LIMIT, 4096)])
async def test_body_streamed_well_past_the_limit_still_gets_413(
    small_api: httpx.AsyncClient, jq: JobQueue, total: int, size: int
) -> None:
    """A client that streams on after the limit (as any client does: it sends the whole request
    before reading the answer) must still read the 413, not a connection reset."""
    response = await small_api.post(
        "/jobs", content=chunks(job_bytes(total), size=size), headers=JSON_HEADERS
    )
    assert_error(response, 413, "payload_too_large", str(LIMIT))
    assert await stored(jq) == 0


async def test_chunked_body_under_the_limit_is_accepted(
    small_api: httpx.AsyncClient, jq: JobQueue
) -> None:
    response = await small_api.post(
        "/jobs", content=chunks(job_bytes(LIMIT - 10), size=300), headers=JSON_HEADERS
    )
    assert response.status_code == 201, response.text
    assert await stored(jq) == 1


async def test_batch_over_the_limit(small_api: httpx.AsyncClient, jq: JobQueue) -> None:
    jobs = [{"type": "echo", "payload": {"i": i}} for i in range(200)]
    response = await small_api.post("/jobs/batch", json={"jobs": jobs})
    assert_error(response, 413, "payload_too_large")
    assert await stored(jq) == 0


# -- POST /jobs/batch --------------------------------------------------------------------


async def test_batch_creates_every_job(api: httpx.AsyncClient, jq: JobQueue) -> None:
    jobs = [
        {"type": "echo", "payload": {"i": 0}},
        {"type": "sleep", "payload": {"seconds": 1}, "queue": "slow", "priority": 5},
        {"type": "echo", "payload": {"i": 2}, "delay": 30},
    ]
    response = await api.post("/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"jobs", "created"}
    assert body["created"] == 3
    assert [job["type"] for job in body["jobs"]] == ["echo", "sleep", "echo"]
    assert [job["payload"] for job in body["jobs"]] == [job["payload"] for job in jobs]
    assert body["jobs"][1]["queue"] == "slow"
    assert body["jobs"][1]["priority"] == 5
    assert all(job["status"] == "pending" for job in body["jobs"])
    assert len({job["id"] for job in body["jobs"]}) == 3
    assert await stored(jq) == 3
    for job in body["jobs"]:
        assert (await api.get(f"/jobs/{job['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("bad", "code", "mention"),
    [
        ({"type": "bad name!"}, "validation_error", "jobs[2].type"),
        ({"type": "no.such.type"}, "unknown_job_type", "jobs[2]"),
        ({"type": "echo", "extra": 1}, "validation_error", "jobs[2].extra"),
        ({"type": "echo", "payload": {"x": 1}, "priority": 99999}, "validation_error", "jobs[2]"),
    ],
)
async def test_one_invalid_job_rejects_the_batch(
    api: httpx.AsyncClient, jq: JobQueue, bad: dict[str, Any], code: str, mention: str
) -> None:
    jobs = [{"type": "echo"}, {"type": "echo", "idempotency_key": "b1"}, bad, {"type": "echo"}]
    response = await api.post("/jobs/batch", json={"jobs": jobs})
    assert_error(response, 422, code, mention)
    assert await stored(jq) == 0
    # the valid job with a key was not stored either: the key is still free
    again = await api.post("/jobs", json={"type": "echo", "idempotency_key": "b1"})
    assert again.status_code == 201, again.text


async def test_nan_in_a_batch_rejects_the_batch(api: httpx.AsyncClient, jq: JobQueue) -> None:
    raw = b'{"jobs":[{"type":"echo"},{"type":"echo","payload":{"x":NaN}}]}'
    response = await api.post("/jobs/batch", content=raw, headers=JSON_HEADERS)
    assert_error(response, 400, "invalid_json", "NaN")
    assert await stored(jq) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobs": []}, "jobs"),
        ({}, "jobs"),
        ({"jobs": {"type": "echo"}}, "jobs"),
        ({"jobs": [{"type": "echo"}], "extra": True}, "extra"),
    ],
)
async def test_batch_shape_errors(
    api: httpx.AsyncClient, jq: JobQueue, body: dict[str, Any], field: str
) -> None:
    response = await api.post("/jobs/batch", json=body)
    error = assert_error(response, 422, "validation_error", field)
    assert field in detail_fields(error)
    assert await stored(jq) == 0


async def test_batch_of_1001_is_rejected(api: httpx.AsyncClient, jq: JobQueue) -> None:
    jobs = [{"type": "echo", "payload": {"i": i}} for i in range(1001)]
    response = await api.post("/jobs/batch", json={"jobs": jobs})
    error = assert_error(response, 422, "validation_error", "jobs", "1000")
    assert detail_fields(error) == ["jobs"]
    assert await stored(jq) == 0


async def test_batch_of_1000_is_accepted(api: httpx.AsyncClient, jq: JobQueue) -> None:
    jobs = [{"type": "echo", "payload": {"i": i}} for i in range(1000)]
    response = await api.post("/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] == 1000
    assert [job["payload"]["i"] for job in body["jobs"]] == list(range(1000))
    assert await stored(jq) == 1000


async def test_batch_media_type_and_json_errors(api: httpx.AsyncClient, jq: JobQueue) -> None:
    text = await api.post(
        "/jobs/batch",
        content=b'{"jobs": [{"type": "echo"}]}',
        headers={"Content-Type": "text/plain"},
    )
    assert_error(text, 415, "unsupported_media_type", "text/plain")
    broken = await api.post("/jobs/batch", content=b'{"jobs": [', headers=JSON_HEADERS)
    assert_error(broken, 400, "invalid_json")
    assert await stored(jq) == 0


async def test_batch_idempotency_within_and_across(api: httpx.AsyncClient, jq: JobQueue) -> None:
    first = await api.post(
        "/jobs/batch",
        json={
            "jobs": [
                {"type": "echo", "payload": {"n": 1}, "idempotency_key": "k1"},
                {"type": "echo", "payload": {"n": 2}, "idempotency_key": "k2"},
                {"type": "echo", "payload": {"n": 2}, "idempotency_key": "k2"},  # same again
            ]
        },
    )
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] == 2
    ids = [job["id"] for job in body["jobs"]]
    assert ids[1] == ids[2]
    assert ids[0] != ids[1]

    second = await api.post(
        "/jobs/batch",
        json={
            "jobs": [
                {"type": "echo", "payload": {"n": 2}, "idempotency_key": "k2"},
                {"type": "echo", "payload": {"n": 3}, "idempotency_key": "k3"},
                {"type": "echo", "payload": {"n": 1}, "idempotency_key": "k1"},
            ]
        },
    )
    assert second.status_code == 201, second.text
    again = second.json()
    assert again["created"] == 1
    assert again["jobs"][0]["id"] == ids[1]
    assert again["jobs"][2]["id"] == ids[0]
    assert again["jobs"][1]["id"] not in ids
    assert await stored(jq) == 3


async def test_batch_idempotency_conflict_rolls_back(api: httpx.AsyncClient, jq: JobQueue) -> None:
    existing = await post_job(api, {"type": "echo", "payload": {"n": 1}, "idempotency_key": "k1"})
    response = await api.post(
        "/jobs/batch",
        json={
            "jobs": [
                {"type": "echo", "payload": {"new": True}, "idempotency_key": "fresh"},
                {"type": "echo", "payload": {"new": True}},
                {"type": "echo", "payload": {"n": 2}, "idempotency_key": "k1"},
            ]
        },
    )
    assert_error(response, 409, "idempotency_conflict", "k1", existing["id"], "payload")
    assert await stored(jq) == 1
    fresh = await api.post(
        "/jobs", json={"type": "echo", "payload": {"new": True}, "idempotency_key": "fresh"}
    )
    assert fresh.status_code == 201, fresh.text  # "fresh" was rolled back with the batch


async def test_batch_conflict_within_one_batch(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.post(
        "/jobs/batch",
        json={
            "jobs": [
                {"type": "echo", "payload": {"n": 1}, "idempotency_key": "same"},
                {"type": "echo", "payload": {"n": 2}, "idempotency_key": "same"},
            ]
        },
    )
    assert_error(response, 409, "idempotency_conflict", "same")
    assert await stored(jq) == 0


# -- GET /jobs ---------------------------------------------------------------------------


async def test_list_is_newest_first_with_filters(api: httpx.AsyncClient) -> None:
    a = await post_job(api, {"type": "echo", "payload": {"n": "a"}})
    b = await post_job(api, {"type": "echo", "payload": {"n": "b"}})
    c = await post_job(api, {"type": "sleep", "payload": {"seconds": 1}, "queue": "slow"})
    d = await post_job(api, {"type": "echo", "queue": "slow"})
    assert (await api.post(f"/jobs/{b['id']}/cancel")).status_code == 200

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/jobs", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"jobs", "next_cursor"}
        assert body["next_cursor"] is None
        return [job["id"] for job in body["jobs"]]

    assert await ids() == [d["id"], c["id"], b["id"], a["id"]]
    assert await ids(status="cancelled") == [b["id"]]
    assert await ids(status="pending") == [d["id"], c["id"], a["id"]]
    assert await ids(type="echo") == [d["id"], b["id"], a["id"]]
    assert await ids(queue="slow") == [d["id"], c["id"]]
    assert await ids(queue="slow", type="echo") == [d["id"]]
    assert await ids(status="pending", type="echo", queue="default") == [a["id"]]
    assert await ids(status="succeeded") == []
    assert await ids(queue="nowhere") == []
    listed = (await api.get("/jobs", params={"type": "sleep"})).json()["jobs"][0]
    assert listed == c


@pytest.mark.parametrize("total", [25, 20, 1])
async def test_cursor_walk_returns_every_job_once(api: httpx.AsyncClient, total: int) -> None:
    made = []
    for i in range(total):
        made.append((await post_job(api, {"type": "echo", "payload": {"i": i}}))["id"])
    walked: list[str] = []
    sizes = []
    cursor: str | None = None
    for _ in range(10):  # bounded: at most 10 pages
        params: dict[str, Any] = {"limit": 10}
        if cursor is not None:
            params["cursor"] = cursor
        response = await api.get("/jobs", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        walked.extend(job["id"] for job in page["jobs"])
        sizes.append(len(page["jobs"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    assert walked == list(reversed(made))
    assert len(set(walked)) == total
    full, rest = divmod(total, 10)
    assert sizes == [10] * full + ([rest] if rest else [])


async def test_cursor_walk_with_a_filter(api: httpx.AsyncClient) -> None:
    echo_ids = []
    for i in range(7):
        echo_ids.append((await post_job(api, {"type": "echo", "payload": {"i": i}}))["id"])
        await post_job(api, {"type": "sleep", "payload": {"seconds": 1}})
    walked: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"limit": 3, "type": "echo"}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/jobs", params=params)).json()
        walked.extend(job["id"] for job in page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == list(reversed(echo_ids))


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "",
        cursor_of("v1:not-a-uuid"),
        cursor_of(f"v2:{uuid.uuid4()}"),
        base64.b64encode(b"\xff\xfe\xfd").decode(),
    ],
)
async def test_list_rejects_a_bad_cursor(api: httpx.AsyncClient, jq: JobQueue, cursor: str) -> None:
    await post_job(api, {"type": "echo"})
    response = await api.get("/jobs", params={"cursor": cursor})
    error = assert_error(response, 422, "validation_error", "cursor")
    assert detail_fields(error) == ["cursor"]
    assert await stored(jq) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": -5}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "finished"}, "status"),
        ({"status": "PENDING"}, "status"),
    ],
)
async def test_list_rejects_bad_parameters(
    api: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await api.get("/jobs", params=params)
    error = assert_error(response, 422, "validation_error", field)
    assert detail_fields(error) == [field]


async def test_list_limit_bounds(api: httpx.AsyncClient) -> None:
    for i in range(3):
        await post_job(api, {"type": "echo", "payload": {"i": i}})
    one = (await api.get("/jobs", params={"limit": 1})).json()
    assert len(one["jobs"]) == 1
    assert one["next_cursor"] is not None
    most = (await api.get("/jobs", params={"limit": 500})).json()
    assert len(most["jobs"]) == 3
    assert most["next_cursor"] is None
    default = (await api.get("/jobs")).json()
    assert len(default["jobs"]) == 3


# -- GET /jobs/{id} ----------------------------------------------------------------------


async def test_get_job_with_a_failed_then_a_successful_attempt(jq: JobQueue) -> None:
    calls: list[int] = []

    @jq.job("flaky", backoff=Backoff(base_seconds=0.05, max_seconds=0.05, jitter=False))
    async def flaky(payload: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("boom the first time")
        return {"ok": True, "echo": payload}

    async with served_with_pool(jq) as (api, pool):
        job = await post_job(api, {"type": "flaky", "payload": {"n": 1}})
        await wait_for(
            lambda: _is(api, job["id"], "succeeded"), timeout=15, what="flaky to succeed"
        )
        response = await api.get(f"/jobs/{job['id']}")
        assert response.status_code == 200, response.text
        detail = response.json()

    assert set(detail) == JOB_FIELDS | {"attempts"}
    assert detail["status"] == "succeeded"
    assert detail["attempt"] == 2
    assert detail["result"] == {"ok": True, "echo": {"n": 1}}
    assert detail["finished_at"] is not None
    attempts = detail["attempts"]
    assert [a["attempt"] for a in attempts] == [1, 2]
    assert [a["outcome"] for a in attempts] == ["failed", "succeeded"]
    for attempt in attempts:
        assert attempt["worker_id"] in pool.worker_ids
        assert when(attempt["started_at"]) <= when(attempt["finished_at"])
    failed, succeeded = attempts
    assert failed["error"] == {"type": "ValueError", "message": "boom the first time"}
    assert "Traceback" in failed["traceback"]
    assert "ValueError: boom the first time" in failed["traceback"]
    assert succeeded["error"] is None
    assert succeeded["traceback"] is None
    assert when(failed["finished_at"]) <= when(succeeded["started_at"])
    assert len(calls) == 2


async def _is(api: httpx.AsyncClient, job_id: str, status: str) -> bool:
    return await job_status(api, job_id) == status


async def test_get_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    missing = str(uuid.uuid4())
    error = assert_error(await api.get(f"/jobs/{missing}"), 404, "not_found", missing)
    assert error["details"] is None


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "12345", "0190f0f0-zzzz-7000-8000-000000000000"])
async def test_get_malformed_id_is_422(api: httpx.AsyncClient, bad_id: str) -> None:
    error = assert_error(await api.get(f"/jobs/{bad_id}"), 422, "validation_error", "job_id")
    assert detail_fields(error) == ["job_id"]


async def test_get_accepts_an_uppercase_id(api: httpx.AsyncClient) -> None:
    job = await post_job(api, {"type": "echo"})
    response = await api.get(f"/jobs/{job['id'].upper()}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == job["id"]


# -- cancel and retry --------------------------------------------------------------------


async def test_cancel(api: httpx.AsyncClient, jq: JobQueue) -> None:
    job = await post_job(api, {"type": "echo", "delay": 600})
    response = await api.post(f"/jobs/{job['id']}/cancel")
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert set(cancelled) == JOB_FIELDS
    assert cancelled["id"] == job["id"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["finished_at"] is not None
    assert await job_status(api, job["id"]) == "cancelled"

    again = await api.post(f"/jobs/{job['id']}/cancel")
    error = assert_error(again, 409, "illegal_transition", "cancelled")
    assert error["details"] == {"state": "cancelled"}
    assert await job_status(api, job["id"]) == "cancelled"

    missing = str(uuid.uuid4())
    assert_error(await api.post(f"/jobs/{missing}/cancel"), 404, "not_found", missing)
    malformed = await api.post("/jobs/nope/cancel")
    assert "job_id" in detail_fields(assert_error(malformed, 422, "validation_error", "job_id"))
    assert await stored(jq) == 1


async def test_retry_a_dead_job_then_it_succeeds(jq: JobQueue) -> None:
    calls: list[int] = []

    @jq.job("fails.once")
    async def fails_once(payload: dict[str, Any]) -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return "second call works"

    async with served_with_pool(jq) as (api, _pool):
        job = await post_job(api, {"type": "fails.once", "max_attempts": 1})
        await wait_for(lambda: _is(api, job["id"], "dead"), timeout=15, what="job to die")
        dead = (await api.get(f"/jobs/{job['id']}")).json()
        assert dead["dead_reason"] == "attempts_exhausted"
        assert dead["last_error"] == {"type": "RuntimeError", "message": "first call fails"}

        response = await api.post(f"/jobs/{job['id']}/retry")
        assert response.status_code == 200, response.text
        retried = response.json()
        assert retried["status"] == "pending"
        assert retried["id"] == job["id"]
        assert retried["dead_reason"] is None
        assert retried["max_attempts"] >= 2

        await wait_for(lambda: _is(api, job["id"], "succeeded"), timeout=15, what="success")
        done = (await api.get(f"/jobs/{job['id']}")).json()

    assert done["result"] == "second call works"
    assert [a["outcome"] for a in done["attempts"]] == ["failed", "succeeded"]
    assert len(calls) == 2
    assert await stored(jq) == 1


async def test_retry_a_cancelled_job(api: httpx.AsyncClient) -> None:
    job = await post_job(api, {"type": "echo"})
    assert (await api.post(f"/jobs/{job['id']}/cancel")).status_code == 200
    response = await api.post(f"/jobs/{job['id']}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    assert response.json()["finished_at"] is None


async def test_retry_errors(api: httpx.AsyncClient, jq: JobQueue) -> None:
    job = await post_job(api, {"type": "echo"})
    error = assert_error(
        await api.post(f"/jobs/{job['id']}/retry"), 409, "illegal_transition", "pending"
    )
    assert error["details"] == {"state": "pending"}
    assert await job_status(api, job["id"]) == "pending"
    missing = str(uuid.uuid4())
    assert_error(await api.post(f"/jobs/{missing}/retry"), 404, "not_found", missing)
    assert_error(await api.post("/jobs/xyz/retry"), 422, "validation_error", "job_id")
    assert await stored(jq) == 1


async def test_retry_a_succeeded_job_is_409(jq: JobQueue) -> None:
    async with served_with_pool(jq) as (api, _pool):
        job = await post_job(api, {"type": "echo", "payload": {"v": 1}})
        await wait_for(lambda: _is(api, job["id"], "succeeded"), timeout=15, what="success")
        error = assert_error(
            await api.post(f"/jobs/{job['id']}/retry"), 409, "illegal_transition", "succeeded"
        )
        assert error["details"] == {"state": "succeeded"}
        cancel = await api.post(f"/jobs/{job['id']}/cancel")
        assert assert_error(cancel, 409, "illegal_transition")["details"] == {"state": "succeeded"}


# -- health, readiness ---------------------------------------------------------------------


async def test_health_and_ready(api: httpx.AsyncClient) -> None:
    health = await api.get("/health")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await api.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


async def test_ready_is_503_when_the_jobqueue_is_closed(jq: JobQueue) -> None:
    other = JobQueue(jq.database_url)
    await other.open()
    async with (
        live_server(other) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as client,
    ):
        assert (await client.get("/ready")).status_code == 200
        await other.close()
        assert await stored(jq) == 0  # the first JobQueue on the same file is unaffected
        response = await client.get("/ready")
        assert_error(response, 503, "not_ready", "store")
        assert response.headers["Retry-After"] == "1"
        health = await client.get("/health")
        assert health.status_code == 200  # health says nothing of the store
        stats = await client.get("/stats")
        assert stats.status_code in (500, 503), stats.text
        assert "error" in stats.json()


async def test_ready_is_503_when_the_store_is_closed(jq: JobQueue) -> None:
    """The store itself closed under the JobQueue: ``ping`` must raise ``StoreError`` (its
    contract), which /ready turns into 503 -- not a crash."""
    other = JobQueue(jq.database_url)
    await other.open()
    try:
        async with (
            live_server(other) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as client,
        ):
            assert (await client.get("/ready")).status_code == 200
            # (a route that needs a token: the server now knows for 2 s that there is none)
            assert (await client.get("/metrics")).status_code == 200
            await other.store.close()
            response = await client.get("/ready")
            assert_error(response, 503, "not_ready", "the store does not answer")
            assert "closed" not in response.text  # why is for the log, not for any caller
            assert response.headers["Retry-After"] == "1"
            # the other endpoints answer 503 too, in the one error shape
            for path in ("/stats", "/jobs"):
                assert_error(await client.get(path), 503, "store_unavailable")
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await other.close()


# -- metrics, stats ------------------------------------------------------------------------


def sample_value(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


async def test_metrics(api: httpx.AsyncClient) -> None:
    for i in range(3):
        await post_job(api, {"type": "echo", "payload": {"i": i}})
    # neither a repeat by idempotency key nor a rejected request counts
    await post_job(api, {"type": "sleep", "payload": {"seconds": 1}, "idempotency_key": "m"})
    repeat = await api.post(
        "/jobs", json={"type": "sleep", "payload": {"seconds": 1}, "idempotency_key": "m"}
    )
    assert repeat.status_code == 200
    assert (await api.post("/jobs", json={"type": "echo", "priority": 10**6})).status_code == 422

    response = await api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    enqueued = "jobq_jobs_enqueued_total"
    assert sample_value(text, enqueued, {"queue": "default", "type": "echo"}) == 3
    assert sample_value(text, enqueued, {"queue": "default", "type": "sleep"}) == 1
    assert sample_value(text, "jobq_jobs", {"queue": "default", "status": "pending"}) == 4
    for state in STATES:
        if state != "pending":
            assert sample_value(text, "jobq_jobs", {"queue": "default", "status": state}) == 0


async def test_metrics_depth_is_read_at_scrape_time(api: httpx.AsyncClient) -> None:
    job = await post_job(api, {"type": "echo", "queue": "q1"})
    first = (await api.get("/metrics")).text
    assert sample_value(first, "jobq_jobs", {"queue": "q1", "status": "pending"}) == 1
    await api.post(f"/jobs/{job['id']}/cancel")
    second = (await api.get("/metrics")).text
    assert sample_value(second, "jobq_jobs", {"queue": "q1", "status": "pending"}) == 0
    assert sample_value(second, "jobq_jobs", {"queue": "q1", "status": "cancelled"}) == 1


async def test_stats_without_a_pool(api: httpx.AsyncClient) -> None:
    empty = await api.get("/stats")
    assert empty.status_code == 200
    assert empty.json() == {
        "counts": {},
        "paused": [],
        "totals": dict.fromkeys(STATES, 0),
        "workers": None,
        "processes": [],
        "throughput": [],
        "oldest_waiting_seconds": None,
        "types": [],
        "warnings": [],
    }
    await post_job(api, {"type": "echo"})
    gone = await post_job(api, {"type": "echo"})
    await post_job(api, {"type": "echo", "queue": "emails"})
    await api.post(f"/jobs/{gone['id']}/cancel")

    stats = (await api.get("/stats")).json()
    assert set(stats) == {
        "counts",
        "paused",
        "totals",
        "workers",
        "processes",
        "throughput",
        "oldest_waiting_seconds",
        "types",
        "warnings",
    }
    assert stats["workers"] is None and stats["warnings"] == []
    assert stats["oldest_waiting_seconds"] >= 0
    assert stats["counts"] == {
        "default": {**dict.fromkeys(STATES, 0), "pending": 1, "cancelled": 1},
        "emails": {**dict.fromkeys(STATES, 0), "pending": 1},
    }
    assert stats["totals"] == {**dict.fromkeys(STATES, 0), "pending": 2, "cancelled": 1}


async def test_stats_flag_a_type_no_live_process_runs(jq: JobQueue) -> None:
    """Waiting jobs by type, and a warning for a type no live process has a handler for: it
    waits (never dead), and /stats, /metrics and the pool's presence say why."""
    jq.accept_unknown_types = True
    strangers = [await jq.enqueue("video.encode") for _ in range(3)]
    async with served_with_pool(jq) as (api, pool):
        done = await post_job(api, {"type": "echo"})
        await wait_for(lambda: _is(api, done["id"], "succeeded"), timeout=15, what="success")
        await pool.wait_until_idle()
        stats = (await api.get("/stats")).json()
        metrics = (await api.get("/metrics")).text
    [process] = stats["processes"]
    assert process["id"] == pool.pool_id and "echo" in process["types"]
    assert "video.encode" not in process["types"]
    by_type = {t["type"]: t for t in stats["types"]}
    assert set(by_type) == {"video.encode"}  # echo ran: nothing of it waits
    video = by_type["video.encode"]
    assert (video["waiting"], video["processes"], video["unhandled"]) == (3, 0, 3)
    assert video["warning"].startswith("no worker for `video.encode`: 3 waiting, oldest")
    assert sample_value(metrics, "jobq_jobs_unhandled", {"type": "video.encode"}) == 3
    assert sample_value(metrics, "jobq_jobs_waiting", {"type": "video.encode"}) == 3
    for job in strangers:
        assert (await jq.get(job.id)).status is JobState.PENDING


async def test_stats_with_a_pool(jq: JobQueue) -> None:
    async with served_with_pool(jq) as (api, _pool):
        job = await post_job(api, {"type": "echo"})
        await wait_for(lambda: _is(api, job["id"], "succeeded"), timeout=15, what="success")
        response = await api.get("/stats")
        assert response.status_code == 200
        stats = response.json()
    assert stats["workers"] == {"count": 2, "busy": 0, "buffered": 0}
    assert stats["totals"]["succeeded"] == 1
    assert stats["counts"]["default"]["succeeded"] == 1


async def test_stats_shows_a_busy_worker(jq: JobQueue) -> None:
    async with served_with_pool(jq) as (api, pool):
        job = await post_job(api, {"type": "sleep", "payload": {"seconds": 30}})
        await wait_for(lambda: pool.busy == 1, timeout=15, what="a busy worker")

        async def busy_reported() -> bool:
            stats = (await api.get("/stats")).json()
            return bool(stats["workers"] == {"count": 2, "busy": 1, "buffered": 0})

        await wait_for(busy_reported, timeout=5, what="stats to show the busy worker")
        detail = (await api.get(f"/jobs/{job['id']}")).json()
        assert detail["status"] == "running"
        assert len(detail["attempts"]) == 1
        assert detail["attempts"][0]["outcome"] is None
        # while it runs the attempt names the pool that claimed it (the slot is known only
        # once it ends)
        assert detail["attempts"][0]["worker_id"].startswith(pool.pool_id)
        await pool.stop(grace=0)


# -- routing errors, OpenAPI ---------------------------------------------------------------


async def test_unknown_route_is_404_json(api: httpx.AsyncClient) -> None:
    error = assert_error(await api.get("/nope"), 404, "not_found", "/nope")
    assert error["details"] is None
    assert_error(await api.post("/jobs/a/b/c", json={}), 404, "not_found")


async def test_wrong_method_is_405_json(api: httpx.AsyncClient, jq: JobQueue) -> None:
    response = await api.delete("/jobs")
    assert_error(response, 405, "method_not_allowed", "DELETE", "/jobs")
    assert response.headers["allow"] == "GET, HEAD, POST"  # every route at /jobs, not the first
    job = await post_job(api, {"type": "echo"})
    response = await api.get(f"/jobs/{job['id']}/cancel")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
    for method in ("GET", "PUT", "DELETE"):
        for path in ("/jobs/batch", "/jobs/retry-dead"):  # not read as /jobs/{job_id}
            response = await api.request(method, path)
            assert_error(response, 405, "method_not_allowed", method, path)
            assert response.headers["allow"] == "POST"
    assert await stored(jq) == 1


async def test_openapi_lists_every_route(api: httpx.AsyncClient) -> None:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/jobs": {"get", "post"},
        "/jobs/batch": {"post"},
        "/jobs/{job_id}": {"get"},
        "/jobs/{job_id}/cancel": {"post"},
        "/jobs/{job_id}/retry": {"post"},
        "/stats": {"get"},
        "/health": {"get"},
        "/ready": {"get"},
        "/metrics": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) >= methods, (path, set(paths[path]))
    post_jobs = paths["/jobs"]["post"]["responses"]
    assert {"201", "200", "409", "413", "415", "422"} <= set(post_jobs)


async def test_index_links(api: httpx.AsyncClient) -> None:
    body = (await api.get("/")).json()
    assert body["service"] == "jobq"
    for link in body["links"].values():
        assert (await api.get(link)).status_code == 200, link


# -- dashboard, cross-origin writes, bulk retry ----------------------------------------------


async def test_a_browser_gets_the_dashboard_and_its_assets(api: httpx.AsyncClient) -> None:
    page = await api.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/ui/static/live.js"' in page.text
    assert 'id="total-pending">0<' in page.text  # rendered on the server
    assert "Finished jobs are kept: succeeded 1d, cancelled 7d, dead 30d." in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "unsafe-inline" not in policy
    for asset, kind in (("/ui/static/live.js", "javascript"), ("/ui/static/app.css", "text/css")):
        answer = await api.get(asset)
        assert answer.status_code == 200 and kind in answer.headers["content-type"], asset
    # everyone else still gets the JSON index
    assert (await api.get("/")).json()["service"] == "jobq"


async def test_the_overview_shows_the_types_own_retention(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    own = {JobState.SUCCEEDED: 90 * 86_400.0, JobState.DEAD: None}
    await jq.store.retention.publish(["report"], {"report": own})
    page = await api.get("/", headers={"Accept": "text/html"})
    assert "by their type's own: report (succeeded 90d, dead forever)." in page.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_a_write_a_browser_sends_from_another_site_is_refused(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    job = await post_job(api, {"type": "echo"})
    for path in (f"/jobs/{job['id']}/cancel", "/jobs"):
        answer = await api.post(path, json={"type": "echo"}, headers=headers)
        assert answer.status_code == 403, path
        assert answer.json()["error"]["code"] == "cross_origin"
    assert (await api.get(f"/jobs/{job['id']}")).json()["status"] == "pending"
    assert (await api.get("/stats")).json()["totals"]["pending"] == 1


async def test_writes_from_the_same_origin_and_from_non_browsers_pass(
    api: httpx.AsyncClient,
) -> None:
    host = api.base_url.netloc.decode()
    same = {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    assert (await api.post("/jobs", json={"type": "echo"}, headers=same)).status_code == 201
    assert (await api.post("/jobs", json={"type": "echo"})).status_code == 201  # no headers
    reads = await api.get("/jobs", headers={"Origin": "http://evil.example"})
    assert reads.status_code == 200  # reads are not writes (and no CORS header lets them out)
    assert "access-control-allow-origin" not in reads.headers


async def test_retry_dead_makes_every_dead_job_of_a_type_pending(jq: JobQueue) -> None:
    @jq.job("doomed", max_attempts=1)
    async def doomed(payload: dict[str, Any]) -> None:
        raise RuntimeError("no")

    jobs = [await jq.enqueue("doomed", {"n": n}) for n in range(3)]
    other = await jq.enqueue("doomed", {"n": 9}, queue="elsewhere")
    async with running_pool(jq):
        for job in [*jobs, other]:
            await jq.wait(job.id, timeout=10)
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as http:
        refused = await http.post("/jobs/retry-dead", content=b'{"type": "doomed"}')
        assert refused.status_code == 415
        bad = await http.post("/jobs/retry-dead", json={"type": ""})
        assert bad.status_code == 422
        answer = await http.post("/jobs/retry-dead", json={"type": "doomed", "queue": "default"})
        assert answer.status_code == 200 and answer.json() == {"retried": 3}
        again = await http.post("/jobs/retry-dead", json={"type": "doomed", "queue": "default"})
        assert again.json() == {"retried": 0}
    states = {job.id: (await jq.get(job.id)).status for job in [*jobs, other]}
    assert [states[job.id] for job in jobs] == [JobState.PENDING] * 3
    assert states[other.id] is JobState.DEAD


# -- bodies the JSON parser would take without a word --------------------------------------


def nested(levels: int) -> str:
    """A body whose deepest nesting is ``levels`` (the body object itself is level 1)."""
    inner = "[" * (levels - 2) + "]" * (levels - 2)
    return '{"type": "echo", "payload": {"deep": ' + inner + "}}" if levels > 2 else "{}"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"type": "echo", "payload": {"s": "\xff"}}', ["not UTF-8", "byte 35"]),
        (b'{"type": "echo", "type": "sleep"}', ["'type' appears twice"]),
        (b'{"type": "echo", "payload": {"a": 1, "a": 2}}', ["'a' appears twice"]),
        (nested(65).encode(), ["deeper than 64"]),
        (nested(500).encode(), ["deeper than 64"]),
        (nested(5000).encode(), ["deeper than 64"]),
    ],
)
async def test_a_body_the_parser_would_quietly_accept_is_refused(
    api: httpx.AsyncClient, body: bytes, words: list[str]
) -> None:
    answer = await api.post("/jobs", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_json"
    for word in words:
        assert word in error["message"], error
    assert (await api.get("/stats")).json()["totals"]["pending"] == 0  # nothing stored


async def test_nesting_up_to_the_limit_is_stored_and_served(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/jobs", content=nested(64).encode(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 201, answer.text
    job = (await api.get(f"/jobs/{answer.json()['id']}")).json()
    assert job["payload"]["deep"] == json.loads(nested(64))["payload"]["deep"]


async def test_a_result_nested_too_deep_fails_the_attempt_not_the_server(jq: JobQueue) -> None:
    @jq.job("deep", max_attempts=1)
    async def deep(payload: dict[str, Any]) -> Any:
        result: Any = []
        for _ in range(100):
            result = [result]
        return result

    job = await jq.enqueue("deep")
    async with running_pool(jq):
        done = await jq.wait(job.id, timeout=10)
    assert done.status is JobState.DEAD
    assert done.last_error is not None and done.last_error.type == "InvalidResult"
    assert "deeper than 64" in done.last_error.message
    async with live_server(jq) as url, httpx.AsyncClient(base_url=url) as http:
        assert (await http.get(f"/jobs/{job.id}")).status_code == 200


async def test_a_unique_job_is_made_once_and_met_with_200(api: httpx.AsyncClient) -> None:
    body = {"type": "echo", "payload": {"user": 7}, "unique": {"states": ["pending"]}}
    first = await api.post("/jobs", json=body)
    assert first.status_code == 201 and "jobq-unique" not in first.headers
    again = await api.post("/jobs", json=body)
    assert again.status_code == 200 and again.headers["jobq-unique"] == "existing"
    assert again.json()["id"] == first.json()["id"]
    other = await api.post("/jobs", json={**body, "payload": {"user": 8}})
    assert other.status_code == 201
    keyed = {"type": "echo", "payload": {"n": 1}, "unique": {"key": "user-7", "for": 3600}}
    one = await api.post("/jobs", json=keyed)
    two = await api.post("/jobs", json={**keyed, "payload": {"n": 2}})  # same key: same job
    assert one.status_code == 201 and two.status_code == 200
    assert two.json()["id"] == one.json()["id"] and two.json()["payload"] == {"n": 1}
    for bad, field in (
        ({"states": ["running"]}, "unique.states must include pending"),
        ({"states": ["sometimes"]}, "unique.states[0]"),
        ({"for": 0}, "unique.for"),
        ({"key": ""}, "unique.key"),
        ({"other": 1}, "unique.other"),
    ):
        refused = await api.post("/jobs", json={"type": "echo", "unique": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert field in refused.text, (bad, refused.text)
    listed = (await api.get("/jobs", params={"type": "echo"})).json()["jobs"]
    assert len(listed) == 3
