"""The job types a process knows: its own (the registry, with their code) and those that live
worker processes published to the store (``TypeCatalog``), with their schemas. A payload is
checked here before it is stored (``check``), by every way in: the Python API, the HTTP API and
the CLI; a process without the handlers' code checks against the published schemas.

When live processes disagree about a type's payload schema (a rolling deploy), a payload that
any of them accepts is accepted, until the old ones are gone; ``conflicts`` names such types,
and the disagreement is logged (``type_schemas_differ``) when it is first seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from jobq.domain.errors import InvalidJob, StoreError
from jobq.domain.job import JSONValue
from jobq.domain.published import PublishedType
from jobq.intake import checked_payload
from jobq.registry import Registry
from jobq.schemas import JSONSchema, SchemaShape, Shape
from jobq.store.ports import TypeCatalog

logger = structlog.get_logger("jobq.catalog")

#: the published types a process checks against are at most this old (seconds)
FRESH_FOR = 1.0
#: a process that has not reported itself for this long no longer counts (presence STALE_AFTER)
LIVE_WITHIN = 15.0


@dataclass(slots=True)
class _Variants:
    """What the processes that know a type say its payload must be."""

    shapes: list[Shape] = field(default_factory=list)
    #: some process takes any JSON object for it
    untyped: bool = False


class Catalog:
    """The types this process knows, its own and the published ones (``refresh``)."""

    def __init__(self, store: Callable[[], TypeCatalog], registry: Registry) -> None:
        self._store = store
        self._registry = registry
        self._published: list[PublishedType] = []
        self._published_names: frozenset[str] = frozenset()
        self._read_at: float | None = None
        self._by_digest: dict[str, Shape] = {}
        self._variants: dict[str, _Variants] = {}
        self._conflicts: dict[str, list[str]] = {}
        self._warned: dict[str, frozenset[str]] = {}

    # -- reading the store ------------------------------------------------------------------

    async def refresh(self, *, fresh_for: float = FRESH_FOR) -> None:
        """Read what live processes published, unless it was read within ``fresh_for``
        seconds. A store that fails keeps the last view (the enqueue that follows says why)."""
        if self._read_at is not None and time.monotonic() - self._read_at < fresh_for:
            return
        try:
            published = await self._store().published(max_age=LIVE_WITHIN)
        except StoreError:
            return
        self._read_at = time.monotonic()
        self.take(published)

    def take(self, published: list[PublishedType]) -> None:
        """Check payloads against ``published`` (and this process's own types) from now on."""
        versions: dict[str, list[tuple[str | None, Shape | Mapping[str, Any] | None]]] = {}
        for item in published:
            spec = item.type
            own = versions.setdefault(spec.name, [])
            if not own and (job_type := self._registry.get(spec.name)) is not None:
                own.append(
                    (job_type.payload.digest if job_type.payload else None, job_type.payload)
                )
            own.append((spec.payload_digest, spec.payload_schema))
        variants: dict[str, _Variants] = {}
        conflicts: dict[str, list[str]] = {}
        for name, seen in versions.items():
            kinds = variants[name] = _Variants()
            digests: set[str] = set()
            for digest, schema in seen:
                if digest is None or schema is None:
                    kinds.untyped = True
                    continue
                digests.add(digest)
                shape = self._shape(digest, schema)
                if shape is not None and shape not in kinds.shapes:
                    kinds.shapes.append(shape)
            if len(digests) > 1:
                conflicts[name] = sorted(digests)
        self._published = published
        self._published_names = frozenset(versions)
        self._variants = variants
        self._conflicts = conflicts
        for name, digests_seen in conflicts.items():
            if self._warned.get(name) != frozenset(digests_seen):
                logger.warning("type_schemas_differ", job_type=name, schemas=digests_seen)
        self._warned = {name: frozenset(d) for name, d in conflicts.items()}

    def _shape(self, digest: str, schema: Shape | Mapping[str, Any]) -> Shape | None:
        if isinstance(schema, Shape):  # this process's own: its code's check
            self._by_digest[digest] = schema
            return schema
        shape = self._by_digest.get(digest)
        if shape is None:
            try:
                shape = SchemaShape(schema)
            except (TypeError, ValueError) as exc:  # published by a broken process: not ours
                logger.warning("type_schema_unusable", digest=digest, error=str(exc))
                return None
            self._by_digest[digest] = shape
        return shape

    # -- answers ------------------------------------------------------------------------------

    def check(self, type: str, payload: Mapping[str, JSONValue]) -> Mapping[str, JSONValue]:
        """``payload`` as it is to be stored (defaults filled in), if a process that knows
        ``type`` accepts it; ``InvalidJob`` naming every bad field otherwise."""
        variants = self._variants.get(type)
        if variants is None:
            job_type = self._registry.get(type)
            if job_type is None or job_type.payload is None:
                return payload
            return checked_payload(job_type.payload, payload)
        if variants.untyped or not variants.shapes:
            return payload
        refusal: InvalidJob | None = None
        for shape in variants.shapes:
            try:
                return checked_payload(shape, payload)
            except InvalidJob as exc:
                refusal = refusal or exc
        assert refusal is not None
        raise refusal

    def knows(self, type: str) -> bool:
        """Whether this process or a live one that published its types runs ``type``."""
        return type in self._registry or type in self._published_names

    @property
    def published(self) -> list[PublishedType]:
        """What live processes published, as last read."""
        return list(self._published)

    def schemas(self) -> dict[str, tuple[JSONSchema | None, JSONSchema | None]]:
        """Each known type's payload and result schemas (None: untyped): this process's own,
        else the latest a live process published."""
        found: dict[str, tuple[JSONSchema | None, JSONSchema | None]] = {}
        for item in sorted(self._published, key=lambda p: p.published_at):
            spec = item.type.spec
            result = spec.get("result_schema")
            found[item.type.name] = (
                item.type.payload_schema,
                result if isinstance(result, dict) else None,
            )
        for job_type in self._registry:
            found[job_type.name] = (
                job_type.payload.schema if job_type.payload else None,
                job_type.result.schema if job_type.result else None,
            )
        return found

    def conflicts(self) -> dict[str, list[str]]:
        """Types whose live processes publish different payload schemas: their digests."""
        return dict(self._conflicts)
