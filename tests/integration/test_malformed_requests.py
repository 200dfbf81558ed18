"""Malformed requests against a real server on loopback (uvicorn, as ``jobq serve`` runs it).

Each one gets its 4xx within a second (the body trickled at 1 byte/s: at the read timeout),
a JSON error whose message names the problem, and leaves the number of stored jobs as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from jobq.api.limits import Limits
from jobq.jobqueue import JobQueue
from tests.helpers import live_server
from tests.jobs import stored

LIMITS = Limits(
    max_body_bytes=65_536, max_json_depth=32, max_page_size=100, max_header_bytes=8192,
    read_timeout=2.0,
)  # fmt: skip
ANSWER_WITHIN = 1.0


@dataclass(frozen=True)
class Case:
    name: str
    request: bytes  # the whole request as sent on the wire
    status: int
    code: str
    names: str  # a piece of the error message that says what is wrong


def post(body: bytes, *, path: str = "/jobs", content_type: str | None = "application/json",
         extra: str = "") -> bytes:  # fmt: skip
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + extra + "\r\n").encode() + body


def get(path: str, *, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def nested(levels: int) -> bytes:
    return b'{"type":"echo","payload":{"x":' + b"[" * levels + b"]" * levels + b"}}"


JOB = b'{"type":"echo","payload":{"n":1}}'

CASES = [
    Case("syntax error", post(b'{"type": "echo",'), 400, "invalid_json", "not valid JSON"),
    Case("empty body", post(b""), 422, "validation_error", "body"),
    Case("a JSON string, not an object", post(b'"echo"'), 422, "validation_error", "object"),
    Case("a JSON array, not an object", post(b"[" + JOB + b"]"), 422, "validation_error",
         "object"),
    Case("text/plain", post(JOB, content_type="text/plain"), 415, "unsupported_media_type",
         "text/plain"),
    Case("no content type", post(JOB, content_type=None), 415, "unsupported_media_type", "none"),
    Case("form encoded", post(b"type=echo", content_type="application/x-www-form-urlencoded"),
         415, "unsupported_media_type", "x-www-form-urlencoded"),
    Case("limit + 1 byte",
         post(b'{"type":"echo","payload":{"pad":"' + b"x" * (65_537 - 35) + b'"}}'),
         413, "payload_too_large", "65536 bytes"),
    Case("10 MiB", post(b'{"type":"echo","payload":{"pad":"' + b"x" * (10 << 20) + b'"}}'),
         413, "payload_too_large", "65536 bytes"),
    Case("a huge array", post(b'{"type":"echo","payload":{"xs":[' + b"1," * 40_000 + b"1]}}"),
         413, "payload_too_large", "65536 bytes"),
    Case("nesting depth 1,000", post(nested(1000)), 400, "invalid_json", "deeper than 32"),
    Case("nesting just past the limit", post(nested(31)), 400, "invalid_json", "deeper than 32"),
    Case("a huge integer", post(b'{"type":"echo","payload":{"n":' + b"9" * 400 + b"}}"), 400,
         "invalid_json", "more than 100 digits"),
    Case("an integer of 101 digits", post(b'{"type":"echo","payload":{"n":-1' + b"0" * 100 + b"}}"),
         400, "invalid_json", "more than 100 digits"),
    Case("a float past 64 bits", post(b'{"type":"echo","payload":{"x":1e400}}'), 400,
         "invalid_json", "1e400"),
    Case("NaN", post(b'{"type":"echo","payload":{"x":NaN}}'), 400, "invalid_json", "NaN"),
    Case("-Infinity", post(b'{"type":"echo","payload":{"x":-Infinity}}'), 400, "invalid_json",
         "-Infinity"),
    Case("a key given twice", post(b'{"type":"echo","type":"other"}'), 400, "invalid_json",
         "'type' appears twice"),
    Case("a key twice deep inside", post(b'{"type":"echo","payload":{"a":{"b":1,"b":2}}}'), 400,
         "invalid_json", "'b' appears twice"),
    Case("invalid UTF-8", post(b'{"type":"echo","payload":{"s":"\xff\xfe"}}'), 400,
         "invalid_json", "not UTF-8"),
    Case("a lone surrogate escaped", post(b'{"type":"echo","payload":{"s":["a","\\ud800"]}}'),
         400, "invalid_json", "not valid Unicode at payload.s[1]"),
    Case("a lone surrogate in a key", post(b'{"type":"echo","payload":{"\\uDFFF":1}}'), 400,
         "invalid_json", 'not valid Unicode at payload["\\udfff"]'),
    Case("a lone surrogate in the type", post(b'{"type":"echo\\udbff"}'), 400, "invalid_json",
         "not valid Unicode at type"),
    Case("a lone surrogate in the queue", post(b'{"type":"echo","queue":"\\udc80"}'), 400,
         "invalid_json", "not valid Unicode at queue"),
    Case("a lone surrogate in the idempotency key",
         post(b'{"type":"echo","idempotency_key":"k\\ud800"}'), 400, "invalid_json",
         "not valid Unicode at idempotency_key"),
    Case("a key given twice, as +json",
         post(b'{"type":"echo","type":"sleep"}', content_type="application/vnd.api+json"), 400,
         "invalid_json", "'type' appears twice"),
    Case("a lone surrogate, as +json",
         post(b'{"type":"echo","payload":{"s":"\\ud800"}}', content_type="application/x+json"),
         400, "invalid_json", "not valid Unicode at payload.s"),
    Case("a lone surrogate in one job of a batch",
         post(b'{"jobs":[{"type":"echo"},{"type":"echo","payload":{"s":"\\ud800"}}]}',
              path="/jobs/batch"), 400, "invalid_json", "not valid Unicode at jobs[1].payload.s"),
    Case("an unknown type", post(b'{"type":"no.such.type"}'), 422, "unknown_job_type",
         "no.such.type"),
    Case("a mistyped type", post(b'{"type":"ecoh"}'), 422, "unknown_job_type",
         "unknown job type 'ecoh' (did you mean `echo`?)"),
    Case("no type", post(b'{"payload":{}}'), 422, "validation_error", "type: is required"),
    Case("an extra field", post(b'{"type":"echo","colour":"red"}'), 422, "validation_error",
         "colour: is not a field of this request"),
    Case("type is a number", post(b'{"type":7}'), 422, "validation_error",
         "type: must be a string, not a number"),
    Case("payload is an array", post(b'{"type":"echo","payload":[1,2]}'), 422,
         "validation_error", "payload: must be a JSON object, not an array"),
    Case("max_attempts 0", post(b'{"type":"echo","max_attempts":0}'), 422, "validation_error",
         "max_attempts"),
    Case("priority out of range", post(b'{"type":"echo","priority":1000000}'), 422,
         "validation_error", "priority"),
    Case("run_at without a time zone", post(b'{"type":"echo","run_at":"2030-01-01T00:00:00"}'),
         422, "validation_error", "run_at"),
    Case("delay and run_at", post(b'{"type":"echo","delay":1,"run_at":"2030-01-01T00:00:00Z"}'),
         422, "validation_error", "not both"),
    Case("an idempotency header too long", post(JOB, extra=f"Idempotency-Key: {'k' * 300}\r\n"),
         422, "validation_error", "Idempotency-Key"),
    Case("a batch of 1,001 jobs",
         post(b'{"jobs":[' + b",".join([b'{"type":"echo"}'] * 1001) + b"]}", path="/jobs/batch"),
         422, "validation_error", "jobs"),
    Case("an empty batch", post(b'{"jobs":[]}', path="/jobs/batch"), 422, "validation_error",
         "jobs"),
    Case("a page past the limit", get("/jobs?limit=101"), 422, "validation_error",
         "less than or equal to 100"),
    Case("a cursor not given out", get("/jobs?cursor=bm9wZQ"), 422, "validation_error", "cursor"),
    Case("a job id that is not one", get("/jobs/12345"), 422, "validation_error", "job_id"),
    Case("a status that does not exist", get("/jobs?status=sleeping"), 422, "validation_error",
         "status"),
    Case("headers past the limit", get("/jobs", extra=f"X-Pad: {'p' * 9000}\r\n"), 431,
         "headers_too_large", "8192 bytes"),
    Case("not HTTP", b"HELLO THERE\r\n\r\n", 400, "invalid_http", "not valid HTTP"),
    Case("Content-Length not a number",
         b"POST /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: lots\r\n\r\n", 400,
         "invalid_http", "not valid HTTP"),
    Case("a method the route does not take",
         b"DELETE /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405, "method_not_allowed",
         "DELETE"),
    Case("GET on a POST-only path under /jobs", get("/jobs/batch"), 405, "method_not_allowed",
         "GET"),
]  # fmt: skip


@dataclass
class Answer:
    status: int
    body: dict[str, object]
    seconds: float


async def send_raw(port: int, request: bytes, *, trickle: bool = False) -> Answer:
    """Send ``request`` on a fresh connection (``trickle``: the body at one byte a second, the
    head at once) and read one answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        head, _, body = request.partition(b"\r\n\r\n")
        writer.write(head + b"\r\n\r\n")
        reading = asyncio.create_task(read_answer(reader))
        if trickle:
            for byte in body:
                if reading.done():
                    break
                writer.write(bytes([byte]))
                await asyncio.wait({reading}, timeout=1.0)
        else:
            writer.write(body)
            with contextlib.suppress(ConnectionError):  # refused before it read all the body
                await writer.drain()
        status, answer = await asyncio.wait_for(reading, timeout=30)
        return Answer(status, answer, time.monotonic() - started)
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, object]]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[1:] if line)
    assert headers.get("content-type") == "application/json", head
    body = await reader.readexactly(int(headers["content-length"]))
    return status, json.loads(body)


@pytest.fixture
async def port(jq: JobQueue) -> AsyncIterator[int]:
    async with live_server(jq, limits=LIMITS) as url:
        yield int(url.rsplit(":", 1)[1])


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 20
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_a_malformed_request_gets_a_json_4xx_naming_it(
    port: int, jq: JobQueue, case: Case
) -> None:
    await jq.enqueue("echo", {"n": 0})  # there is something to leave unchanged
    before = await stored(jq)
    answer = await send_raw(port, case.request)
    assert answer.status == case.status, answer
    error = answer.body["error"]
    assert isinstance(error, dict)
    assert error["code"] == case.code, answer
    assert case.names in str(error["message"]), answer
    assert answer.seconds < ANSWER_WITHIN, answer
    assert await stored(jq) == before


async def test_a_body_sent_at_one_byte_a_second_is_cut_off_at_the_read_timeout(
    port: int, jq: JobQueue
) -> None:
    answer = await send_raw(port, post(JOB), trickle=True)
    assert answer.status == 408, answer
    error = answer.body["error"]
    assert isinstance(error, dict)
    assert error["code"] == "request_timeout"
    assert "2 s" in str(error["message"]) and "JOBQ_READ_TIMEOUT" in str(error["message"])
    assert LIMITS.read_timeout <= answer.seconds < LIMITS.read_timeout + ANSWER_WITHIN
    assert await stored(jq) == 0


async def test_a_well_formed_request_still_passes(port: int, jq: JobQueue) -> None:
    """The table's requests are refused for what is wrong with them, not for how they are sent."""
    answer = await send_raw(port, post(JOB, extra="Connection: close\r\n"))
    assert answer.status == 201, answer
    assert await stored(jq) == 1


async def test_headers_that_never_end_are_cut_off_with_431(port: int, jq: JobQueue) -> None:
    """The HTTP protocol stops buffering a head past the limit (no blank line yet)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET /jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ")
        for _ in range(20):  # 20 KiB of one header, never finished
            writer.write(b"p" * 1024)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
        status, body = await asyncio.wait_for(read_answer(reader), timeout=5)
    finally:
        writer.close()
    assert status == 431
    assert body["error"] == {
        "code": "headers_too_large",
        "message": "the request line and headers are larger than 8192 bytes "
        "(JOBQ_MAX_HEADER_BYTES)",
        "details": None,
    }
