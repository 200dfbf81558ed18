"""``/openapi.json`` as the server really answers: FastAPI's document of the routes, plus what
the layers around them do, so that a client generated from it knows every answer it can get.

- The security scheme: a bearer token (``jobq tokens create``), needed by every operation but
  the probes once any token exists (``api/auth.py`` decides; this reads the same rule), and
  optional while none does.
- The answers of the middleware, on every operation they apply to: 401 and 429 (a token is
  needed, or its rate is spent), 403 (a write whose token's scope is too narrow, or that a
  browser sent from another site), 400 (a ``Host`` this server does not answer to), 405 (a
  method the path does not have), 408 (the request came too slowly), 413 (the body is larger
  than the limit), 431 (the headers are).
- ``GET /``: 303 to the sign-in page, for a browser without a session once tokens exist.
- The largest ``limit`` of ``GET /jobs`` this server allows (``JOBQ_MAX_PAGE_SIZE``).
- Each job type's payload and result schemas, as components (``OrderPlacePayload``,
  ``OrderPlaceResult`` for ``order.place``; their ``$defs`` beside them), listed by type name
  under ``x-jobq-job-types``: the types of this process's code and those live worker processes
  published. The document is made again when they change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import JSONResponse

from jobq.api.auth import UNSAFE, AccessPolicy, required_scope
from jobq.api.limits import Limits
from jobq.api.origin import PROBES
from jobq.domain.tokens import Scope

SCHEME = "token"

_ERROR = {"$ref": "#/components/schemas/ErrorBody"}


def _answer(text: str) -> dict[str, Any]:
    return {"description": text, "content": {"application/json": {"schema": _ERROR}}}


#: what any operation may answer before its route runs
_EVERYWHERE = {
    "405": _answer("the path has no such method (the Allow header lists those it has)"),
    "408": _answer("the request did not arrive within JOBQ_READ_TIMEOUT"),
    "413": _answer("the body is larger than JOBQ_MAX_BODY_BYTES"),
    "431": _answer("the headers are larger than JOBQ_MAX_HEADER_BYTES"),
}
_HOST = {"400": _answer("the Host header names a host this server does not answer to")}
_TOKEN = {
    "401": _answer("an API token is needed (once any exists), or the one given is not valid"),
    "429": _answer("the token's request rate is spent; try again after Retry-After seconds"),
}
_WRITE = {
    "403": _answer(
        "the token's scope may not do this, or a browser sent it from another site (or "
        "without the session's CSRF value)"
    )
}


#: a job type's (payload schema, result schema); None: untyped
TypeSchemas = dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]


def install(
    app: FastAPI,
    limits: Limits,
    access: AccessPolicy,
    job_types: Callable[[], TypeSchemas],
    refresh: Callable[[], Awaitable[None]],
) -> None:
    """Serve the completed document at ``/openapi.json``: made on the first request, and again
    when the job types' schemas change (``refresh`` reads the published ones first)."""
    made: dict[str, Any] = {}
    made_for: list[str] = []

    def document() -> dict[str, Any]:
        types = job_types()
        key = json.dumps(types, sort_keys=True, default=str)
        if made_for != [key]:
            made.clear()
            made.update(describe(app, limits, access))
            add_job_types(made, types)
            made_for[:] = [key]
        return made

    app.openapi = document  # type: ignore[method-assign]

    async def openapi_json(request: Request) -> JSONResponse:
        await refresh()
        return JSONResponse(app.openapi())

    app.add_route("/openapi.json", openapi_json, include_in_schema=False)


def component_name(job_type: str, part: str) -> str:
    """``order.place`` -> ``OrderPlacePayload``: a name code generators make a class of."""
    words = re.split(r"[^A-Za-z0-9]+", job_type)
    return "".join(w[:1].upper() + w[1:] for w in words if w) + part


def add_job_types(document: dict[str, Any], types: TypeSchemas) -> None:
    """Each type's schemas as components, their ``$defs`` hoisted beside them, and the map
    from type name to component under ``x-jobq-job-types``."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    listed: dict[str, dict[str, str]] = {}
    for name in sorted(types):
        for part, schema in zip(("Payload", "Result"), types[name], strict=True):
            if schema is None:
                continue
            component = component_name(name, part)
            if component in components:  # taken by the API's own models, or another type
                component = f"{component}_{len(components)}"
            schema = dict(schema)
            defs = schema.pop("$defs", {})
            renamed = {key: f"{component}.{key}" for key in defs}

            def relink(node: Any, renamed: dict[str, str] = renamed) -> Any:
                if isinstance(node, dict):
                    ref = node.get("$ref")
                    out = {k: relink(v) for k, v in node.items()}
                    if isinstance(ref, str) and ref.startswith("#/$defs/"):
                        target = renamed.get(ref.removeprefix("#/$defs/"), ref)
                        out["$ref"] = f"#/components/schemas/{target}"
                    return out
                if isinstance(node, list):
                    return [relink(item) for item in node]
                return node

            for key, sub in defs.items():
                components[renamed[key]] = relink(sub)
            components[component] = {**relink(schema), "x-jobq-job-type": name}
            listed.setdefault(name, {})[part.lower()] = f"#/components/schemas/{component}"
    document["x-jobq-job-types"] = listed


def describe(app: FastAPI, limits: Limits, access: AccessPolicy) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`jobq tokens create --scope read|enqueue|admin`). "
            "Needed by every operation but /health and /ready once any token exists; until "
            "then, none is. read: GET; enqueue: also POST /jobs and /jobs/batch; admin: all.",
        }
    }
    schema["security"] = [{SCHEME: []}, {}]  # a token, or none while no token exists
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            _complete(path, method.upper(), operation, limits, access)
    return schema


def _complete(
    path: str, method: str, operation: dict[str, Any], limits: Limits, access: AccessPolicy
) -> None:
    answers: dict[str, Any] = operation.setdefault("responses", {})
    needed = required_scope(method, path, metrics_public=access.metrics_public)
    extra = dict(_EVERYWHERE)
    if path not in PROBES:
        extra |= _HOST
    if needed is None:
        operation["security"] = []
    else:
        extra |= _TOKEN
        if method in UNSAFE and needed is not Scope.READ:
            extra |= _WRITE
    for status, answer in extra.items():
        answers.setdefault(status, answer)
    if path == "/" and method == "GET":
        answers.setdefault(
            "303",
            {
                "description": "a browser (Accept: text/html) without a session, once tokens "
                "exist: to /ui/login",
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
        )
    if path == "/jobs" and method == "GET":
        for parameter in operation.get("parameters", []):
            if parameter.get("name") == "limit":
                parameter.setdefault("schema", {})["maximum"] = limits.max_page_size
