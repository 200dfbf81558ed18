"""Strings that are not Unicode (a lone surrogate such as ``"\\ud800"``: a valid JSON escape that
UTF-8 cannot encode), on both stores: refused where a client sends them (HTTP, Python, CLI),
with nothing stored; where a handler makes them, its result fails the attempt and its progress
and error messages are kept with U+FFFD, never a crash."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobq import JobContext, NewJob
from jobq.domain.errors import InvalidJob
from jobq.domain.job import DeadReason
from jobq.domain.states import JobState
from jobq.jobqueue import JobQueue
from jobq.store.records import JobFilter
from jobq.worker import PoolConfig, WorkerPool
from tests.cli import Cli, describe
from tests.jobs import stored

JSON = {"content-type": "application/json"}
LONE = "\ud800"  # what json.loads makes of the escape \ud800
NOT_UNICODE = "is not valid Unicode"


@pytest.fixture
async def pool(jq: JobQueue) -> AsyncIterator[WorkerPool]:
    pool = jq.worker_pool(PoolConfig(worker_count=2, poll_interval=0.05))
    await pool.start()
    yield pool
    await pool.stop(grace=5)


def refused(response: httpx.Response, path: str) -> None:
    """400 ``invalid_json`` naming the string at ``path``."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_json", error
    assert f"the body is not valid Unicode at {path}:" in error["message"], error


async def test_a_lone_surrogate_in_a_payload_is_not_a_500(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    # the body as a client sends it: the escape, not the character (which no UTF-8 body holds)
    response = await api.post(
        "/jobs", content=b'{"type": "echo", "payload": {"a": "\\ud800"}}', headers=JSON
    )
    refused(response, "payload.a")
    assert await stored(jq) == 0


# (route, body, the path the error names); each body as sent, with the escape in it
BODIES = [
    ("/jobs", rb'{"type":"echo","payload":{"s":["ok","\udfff"]}}', "payload.s[1]"),
    ("/jobs", rb'{"type":"echo","payload":{"k\uDBFF":1}}', 'payload["k\\udbff"]'),
    ("/jobs", rb'{"type":"echo","payload":{"a":{"b":"x\ud800y"}}}', "payload.a.b"),
    ("/jobs", rb'{"type":"echo\ud800"}', "type"),
    ("/jobs", rb'{"type":"echo","queue":"q\udc80"}', "queue"),
    ("/jobs", rb'{"type":"echo","idempotency_key":"key-\ud800"}', "idempotency_key"),
    (
        "/jobs/batch",
        rb'{"jobs":[{"type":"echo"},{"type":"echo"},{"type":"echo","payload":{"s":["a","\udfff"]}}]}',
        "jobs[2].payload.s[1]",
    ),
    ("/jobs/batch", rb'{"jobs":[{"type":"echo","queue":"\ud800"}]}', "jobs[0].queue"),
    ("/jobs/retry-dead", rb'{"type":"echo","queue":"\ud800"}', "queue"),
]


@pytest.mark.parametrize(("route", "body", "path"), BODIES, ids=[b[2] for b in BODIES])
async def test_a_string_that_is_not_unicode_is_refused_naming_it(
    api: httpx.AsyncClient, jq: JobQueue, route: str, body: bytes, path: str
) -> None:
    await jq.enqueue("echo", {"n": 0})
    refused(await api.post(route, content=body, headers=JSON), path)
    assert await stored(jq) == 1  # nothing of a batch either


async def test_a_surrogate_pair_is_one_character_and_welcome(
    api: httpx.AsyncClient, jq: JobQueue
) -> None:
    """A pair of escapes is how JSON writes a character past U+FFFF: not lone, not refused."""
    body = b'{"type": "echo", "payload": {"s": "\\ud83d\\ude00", "t": "\\\\ud800"}}'
    response = await api.post("/jobs", content=body, headers=JSON)
    assert response.status_code == 201, response.text
    assert response.json()["payload"] == {"s": "\U0001f600", "t": "\\ud800"}


# -- the Python API -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "options", "names"),
    [
        (("echo", {"a": LONE}), {}, "payload.a"),
        (("echo", {"list": [1, {"x": f"a{LONE}"}]}), {}, "payload.list[1].x"),
        (("echo", {LONE: 1}), {}, 'payload["\\ud800"]'),
        ((f"echo{LONE}", {}), {}, "job type"),
        (("echo", {}), {"queue": f"q{LONE}"}, "queue"),
        (("echo", {}), {"idempotency_key": f"k{LONE}"}, "idempotency_key"),
    ],
    ids=["payload", "deep in the payload", "a payload key", "type", "queue", "idempotency key"],
)
async def test_the_python_api_raises_invalid_job_naming_the_field(
    jq: JobQueue, args: tuple[str, dict[str, Any]], options: dict[str, Any], names: str
) -> None:
    with pytest.raises(InvalidJob) as raised:
        await jq.enqueue(*args, **options)
    assert names in str(raised.value)
    assert str(raised.value).isascii()  # the message itself can be printed, logged and stored
    assert await stored(jq) == 0


async def test_new_jobs_made_without_the_checks_are_refused_by_the_store(jq: JobQueue) -> None:
    good = jq.new_job("echo", {"n": 1})
    with pytest.raises(InvalidJob, match=r"jobs\[1\]\.queue is not valid Unicode"):
        await jq.enqueue_many([good, NewJob(type="echo", payload={}, queue=f"q{LONE}")])
    with pytest.raises(InvalidJob, match=r"jobs\[2\]: payload is not valid Unicode at payload\.a"):
        await jq.enqueue_many([good, good, NewJob(type="echo", payload={"a": LONE})])
    assert await stored(jq) == 0


async def test_a_filter_by_such_a_name_matches_nothing(jq: JobQueue, store_url: str) -> None:
    """No stored name can hold one; the store is not asked (it could not take the parameter)."""
    await jq.enqueue("echo")
    page = await jq.list_jobs(JobFilter(type=f"echo{LONE}"))
    assert (page.jobs, page.next_after) == ([], None)
    assert (await jq.list_jobs(JobFilter(queue=f"default{LONE}"))).jobs == []
    assert await jq.retry_dead("echo", queue=f"q{LONE}") == 0
    # the same name from the command line, as bytes that are not UTF-8
    listed = Cli(store_url).json("jobs", "list", "--type", "echo\udcff")
    assert listed["jobs"] == []


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["echo", '{"a": "\\ud800"}'], f"payload {NOT_UNICODE} at payload.a"),
        (["echo", "-"], f"payload {NOT_UNICODE} at payload.from_stdin"),
        # bytes that are not UTF-8 in an argument: Python holds them as lone surrogates
        (["echo", "{}", "--queue", "q\udcff"], "queue 'q\\udcff' is not allowed"),
        (["echo", "{}", "--idempotency-key", "k\udcff"], f"idempotency_key {NOT_UNICODE}"),
    ],
    ids=["payload", "payload from stdin", "queue", "idempotency key"],
)
async def test_jobq_enqueue_exits_2_naming_the_field(
    jq: JobQueue, store_url: str, args: list[str], says: str
) -> None:
    result = Cli(store_url)("enqueue", *args, stdin='{"from_stdin": "\\udfff"}')
    assert result.returncode == 2, describe(result)
    assert "Traceback" not in result.stderr, describe(result)
    assert says in result.stderr, describe(result)
    assert await stored(jq) == 0


async def test_jobq_enqueue_from_file_refuses_that_line_only(
    jq: JobQueue, store_url: str, tmp_path: Path
) -> None:
    lines = [
        '{"type": "echo"}',
        '{"type": "echo", "payload": {"s": "\\ud800"}}',
        '{"type": "echo"}',
    ]
    source = tmp_path / "jobs.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = Cli(store_url)("enqueue", "--from-file", str(source))
    assert result.returncode == 1, describe(result)
    assert f"line 2: payload {NOT_UNICODE} at payload.s:" in result.stderr, describe(result)
    assert "2 enqueued, 0 already there, 1 refused" in result.stdout, describe(result)
    assert await stored(jq) == 2


# -- what a handler makes -------------------------------------------------------------------


async def test_a_result_that_is_not_unicode_fails_the_attempt_as_invalid_result(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("bad.result", max_attempts=3)
    async def bad_result(payload: dict[str, Any]) -> object:
        return {"s": ["fine", f"half a pair: {LONE}"]}

    job = await jq.wait((await jq.enqueue("bad.result")).id, timeout=10)
    assert job.status is JobState.DEAD and job.dead_reason is DeadReason.NON_RETRYABLE
    assert job.attempt == 1  # the same result next time: not retried
    assert job.result is None
    assert job.last_error is not None and job.last_error.type == "InvalidResult"
    assert f"{NOT_UNICODE} at result.s[1]" in job.last_error.message


async def test_a_progress_message_keeps_its_text_with_u_fffd(
    jq: JobQueue, pool: WorkerPool
) -> None:
    @jq.job("bad.progress")
    def bad_progress(payload: dict[str, Any], ctx: JobContext) -> str:  # in a thread
        ctx.progress(0.5, f"step {LONE} of 2")
        return "done"

    job = await jq.wait((await jq.enqueue("bad.progress")).id, timeout=10)
    assert job.status is JobState.SUCCEEDED, job.last_error
    assert (job.progress, job.progress_message) == (0.5, "step \ufffd of 2")


class WeirdError(Exception):
    pass


async def test_an_error_message_keeps_its_text_with_u_fffd(jq: JobQueue, pool: WorkerPool) -> None:
    @jq.job("bad.error", max_attempts=1)
    async def bad_error(payload: dict[str, Any]) -> None:
        raise WeirdError(f"cannot read {LONE}file\udcff")

    job = await jq.wait((await jq.enqueue("bad.error")).id, timeout=10)
    assert job.status is JobState.DEAD and job.dead_reason is DeadReason.ATTEMPTS_EXHAUSTED
    error = job.last_error
    assert error is not None and error.type == "WeirdError"
    assert error.message == "cannot read \ufffdfile\ufffd"
    assert error.traceback is not None and "cannot read \ufffdfile\ufffd" in error.traceback
    [attempt] = await jq.attempts(job.id)
    assert attempt.error == error
