"""A small HTTP client for other services: ``Client`` (blocking) and ``AsyncClient``.

    with jobq.Client("http://127.0.0.1:8080") as client:
        job = client.enqueue("email.send", {"to": "a@example.com"})
        done = client.wait(job.id, timeout=30)

Both build the same requests and read the same answers (``_Call``); only the sending differs.
An error answer raises ``ClientError`` with the server's ``code``, ``message`` and ``details``;
a job with a string that is not valid Unicode raises ``InvalidJob`` before it is sent.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, Unpack, overload

import httpx
from pydantic import BaseModel

from jobq.domain.errors import InvalidJob, JobqError
from jobq.domain.job import Backoff
from jobq.domain.jsonvalues import not_unicode, unicode_problem
from jobq.domain.states import TERMINAL, JobState
from jobq.typed import EnqueueOptions, TypedJob
from jobq.wire import BatchOut, JobDetailOut, JobOut, JobPageOut, StatsOut

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P")

DEFAULT_URL = "http://127.0.0.1:8080"
_TERMINAL = {state.value for state in TERMINAL}


class ClientError(JobqError):
    """The server refused the request."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.details = details


@dataclass(frozen=True, slots=True)
class _Call(Generic[M]):
    """One request and the model its answer is read into."""

    method: str
    path: str
    model: type[M]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def read(self, response: httpx.Response) -> M:
        if response.is_success:
            return self.model.model_validate(response.json())
        try:
            error = response.json()["error"]
            code, message, details = error["code"], error["message"], error.get("details")
        except (ValueError, KeyError, TypeError):
            code, message, details = "http_error", response.text[:500], None
        raise ClientError(response.status_code, code, message, details)


def _job_body(
    job_type: str, payload: dict[str, Any] | None, options: dict[str, Any]
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": job_type, "payload": payload or {}}
    for key, value in options.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Backoff):
            value = value.to_dict()
        if value is not None:
            body[key] = value
    return body


def _unicode(body: dict[str, Any]) -> dict[str, Any]:
    """``body``, or ``InvalidJob`` as the server would answer (400) if a string in it is not
    valid Unicode: UTF-8, so httpx, cannot encode it."""
    where = unicode_problem(body)
    if where is not None:
        raise InvalidJob(not_unicode("the body", where))
    return body


def _typed(job_type: str | TypedJob[Any, Any], payload: Any) -> tuple[str, dict[str, Any] | None]:
    """A typed call's type name and payload as JSON (a model dumped); others as they are."""
    if isinstance(job_type, TypedJob):
        return job_type.name, job_type.payload_json(payload)
    return job_type, payload


def _enqueue(
    job_type: str, payload: dict[str, Any] | None, options: dict[str, Any]
) -> _Call[JobOut]:
    return _Call("POST", "/jobs", JobOut, json=_unicode(_job_body(job_type, payload, options)))


def _enqueue_many(jobs: list[dict[str, Any]]) -> _Call[BatchOut]:
    return _Call("POST", "/jobs/batch", BatchOut, json=_unicode({"jobs": jobs}))


def _get(job_id: str) -> _Call[JobDetailOut]:
    return _Call("GET", f"/jobs/{job_id}", JobDetailOut)


def _list(
    status: JobState | str | None,
    job_type: str | None,
    queue: str | None,
    limit: int,
    cursor: str | None,
) -> _Call[JobPageOut]:
    params = {
        "status": None if status is None else JobState(status).value,
        "type": job_type,
        "queue": queue,
        "limit": limit,
        "cursor": cursor,
    }
    return _Call(
        "GET", "/jobs", JobPageOut, params={k: v for k, v in params.items() if v is not None}
    )


def _change(job_id: str, action: str) -> _Call[JobOut]:
    return _Call("POST", f"/jobs/{job_id}/{action}", JobOut)


def _stats() -> _Call[StatsOut]:
    return _Call("GET", "/stats", StatsOut)


class Client:
    """Blocking client. Keyword options of ``enqueue``: queue, priority, delay, run_at,
    max_attempts, timeout, backoff, idempotency_key."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        """``token``: an API token (``jobq tokens create``), sent as ``Authorization: Bearer``;
        needed once the server has any."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)

    def _send(self, call: _Call[M]) -> M:
        response = self._http.request(
            call.method, call.path, json=call.json, params=call.params, headers=call.headers
        )
        return call.read(response)

    @overload
    def enqueue(
        self, job_type: TypedJob[P, Any], payload: P, **options: Unpack[EnqueueOptions]
    ) -> JobOut: ...

    @overload
    def enqueue(
        self, job_type: str, payload: dict[str, Any] | None = None, **options: Any
    ) -> JobOut: ...

    def enqueue(self, job_type: Any, payload: Any = None, **options: Any) -> JobOut:
        """Enqueue a job; ``job_type`` may be a ``TypedJob`` (``@jq.job``'s) and ``payload``
        its model, type-checked."""
        return self._send(_enqueue(*_typed(job_type, payload), options))

    def enqueue_many(self, jobs: list[dict[str, Any]]) -> BatchOut:
        return self._send(_enqueue_many(jobs))

    def get(self, job_id: str) -> JobDetailOut:
        return self._send(_get(job_id))

    def list(
        self,
        *,
        status: JobState | str | None = None,
        type: str | None = None,
        queue: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPageOut:
        return self._send(_list(status, type, queue, limit, cursor))

    def cancel(self, job_id: str) -> JobOut:
        return self._send(_change(job_id, "cancel"))

    def retry(self, job_id: str) -> JobOut:
        return self._send(_change(job_id, "retry"))

    def stats(self) -> StatsOut:
        return self._send(_stats())

    def wait(
        self, job_id: str, *, timeout: float | None = None, interval: float = 0.2
    ) -> JobDetailOut:
        """Poll until the job ends; ``TimeoutError`` after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.status in _TERMINAL:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {job.status} after {timeout} s")
            time.sleep(interval)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient:
    """The same calls as ``Client``, awaited."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """``token``: an API token (``jobq tokens create``), sent as ``Authorization: Bearer``;
        needed once the server has any."""
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout, headers=headers)

    async def _send(self, call: _Call[M]) -> M:
        response = await self._http.request(
            call.method, call.path, json=call.json, params=call.params, headers=call.headers
        )
        return call.read(response)

    @overload
    async def enqueue(
        self, job_type: TypedJob[P, Any], payload: P, **options: Unpack[EnqueueOptions]
    ) -> JobOut: ...

    @overload
    async def enqueue(
        self, job_type: str, payload: dict[str, Any] | None = None, **options: Any
    ) -> JobOut: ...

    async def enqueue(self, job_type: Any, payload: Any = None, **options: Any) -> JobOut:
        """As ``Client.enqueue``."""
        return await self._send(_enqueue(*_typed(job_type, payload), options))

    async def enqueue_many(self, jobs: list[dict[str, Any]]) -> BatchOut:
        return await self._send(_enqueue_many(jobs))

    async def get(self, job_id: str) -> JobDetailOut:
        return await self._send(_get(job_id))

    async def list(
        self,
        *,
        status: JobState | str | None = None,
        type: str | None = None,
        queue: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPageOut:
        return await self._send(_list(status, type, queue, limit, cursor))

    async def cancel(self, job_id: str) -> JobOut:
        return await self._send(_change(job_id, "cancel"))

    async def retry(self, job_id: str) -> JobOut:
        return await self._send(_change(job_id, "retry"))

    async def stats(self) -> StatsOut:
        return await self._send(_stats())

    async def wait(
        self, job_id: str, *, timeout: float | None = None, interval: float = 0.2
    ) -> JobDetailOut:
        """Poll until the job ends; ``TimeoutError`` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while True:
                job = await self.get(job_id)
                if job.status in _TERMINAL:
                    return job
                await asyncio.sleep(interval)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
