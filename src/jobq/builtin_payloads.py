"""The payloads of the built-in job types, as pydantic models, and how a handler reads one.
A module of its own, imported by a handler when it first runs: building the models (``HttpUrl``
above all) is a tenth of a worker process's start-up, and most processes never run these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

from jobq.domain.errors import NonRetryableError


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


def parse(model: type[_Payload], payload: dict[str, Any], job_type: str) -> Any:
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
