"""Job types as worker processes publish them to the store (schema 11), so that a process
without the handlers' code (an API process) knows each type's schemas and options: what it
checks a payload against, what ``GET /types`` shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobq.domain.ids import PoolId


@dataclass(frozen=True, slots=True)
class TypeSpec:
    """A job type as one process runs it: ``spec`` holds its payload and result schemas
    (``payload_schema``, ``result_schema``, None where untyped) and its options."""

    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    #: a short name for the payload schema's content (``schemas.digest``); None: untyped
    payload_digest: str | None = None

    @property
    def payload_schema(self) -> dict[str, Any] | None:
        schema = self.spec.get("payload_schema")
        return schema if isinstance(schema, dict) else None


@dataclass(frozen=True, slots=True)
class PublishedType:
    """A ``TypeSpec`` as a live process published it."""

    type: TypeSpec
    process: PoolId
    published_at: datetime
