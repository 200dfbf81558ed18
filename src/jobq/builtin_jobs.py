"""Job types every jobq process has, so the embedded default does real work out of the box.

- ``sleep`` {"seconds": 0..86400}: waits, returns {"slept": seconds}
- ``echo``: returns its payload
- ``http.request`` {"url", "method", "headers", "json" | "body", "timeout"}: calls a URL; a 2xx
  answer succeeds with {"status", "headers", "body"}, anything else fails and is retried
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from jobq.domain.errors import NonRetryableError
from jobq.registry import Registry

MAX_BODY_KEPT = 64 * 1024  # characters of the response body kept in the result


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SleepPayload(_Payload):
    seconds: float = Field(ge=0, le=86400)


class HttpRequestPayload(_Payload):
    url: HttpUrl
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=3600)


class HTTPStatusFailure(Exception):
    """The server answered with a status other than 2xx."""


def _parse(model: type[_Payload], payload: dict[str, Any], job_type: str) -> Any:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        # The same payload would fail the same way on every attempt. The message names the
        # fields and the rule, never the values: errors are logged and payloads must not be.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'payload'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise NonRetryableError(f"invalid payload for {job_type}: {problems}") from None


async def sleep(payload: dict[str, Any]) -> dict[str, float]:
    seconds = _parse(SleepPayload, payload, "sleep").seconds
    await asyncio.sleep(seconds)
    return {"slept": seconds}


async def echo(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


async def http_request(payload: dict[str, Any]) -> dict[str, Any]:
    request = _parse(HttpRequestPayload, payload, "http.request")
    if request.json_body is not None and request.body is not None:
        raise NonRetryableError("invalid payload for http.request: give json or body, not both")
    async with httpx.AsyncClient(timeout=request.timeout, follow_redirects=True) as client:
        response = await client.request(
            request.method,
            str(request.url),
            headers=request.headers,
            json=request.json_body,
            content=request.body,
        )
    if not 200 <= response.status_code < 300:
        raise HTTPStatusFailure(
            f"{request.method} {request.url} answered {response.status_code} "
            f"{response.reason_phrase}: {response.text[:500]}"
        )
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": response.text[:MAX_BODY_KEPT],
    }


def builtin_registry() -> Registry:
    registry = Registry()
    registry.job("sleep", timeout=None)(sleep)
    registry.job("echo")(echo)
    registry.job("http.request", max_attempts=5)(http_request)
    return registry
