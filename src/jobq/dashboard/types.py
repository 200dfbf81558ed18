"""The dashboard's page of one job type (``/ui/types/{name}``): its schemas, options, the live
worker processes that run it, and, for ``enqueue`` and ``admin`` tokens, a form built from its
payload schema that enqueues a job: a field per top-level property (text, number, a checkbox,
a choice, or JSON for objects and arrays), its default filled in. What is sent is checked as
any enqueue is; a payload that does not fit comes back with each bad field named."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from jobq.api.ops import jobqueue_of
from jobq.dashboard.pages import forged, posted_form, render
from jobq.domain.errors import InvalidJob, UnknownJobType
from jobq.domain.job import DEFAULT_QUEUE
from jobq.insights import TypeInfo, type_document
from jobq.names import check_name

router = APIRouter(include_in_schema=False)

#: what a field's input is: a text box, a number, a checkbox, a choice, JSON
SIMPLE = {"string": "text", "integer": "integer", "number": "number", "boolean": "checkbox"}


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    kind: str  # text, integer, number, checkbox, choice, json
    required: bool
    #: the value shown in the input: the default, or what was sent
    value: str
    choices: tuple[str, ...] = ()
    description: str = ""


def form_fields(
    schema: dict[str, Any] | None, sent: dict[str, str] | None = None
) -> list[FormField]:
    """A field per top-level property of ``schema``; None (untyped): one JSON field for all."""
    sent = sent or {}
    if schema is None:
        return [FormField("payload", "json", False, sent.get("payload", "{}"))]
    required = set(schema.get("required", ()))
    fields = []
    for name, given in (schema.get("properties") or {}).items():
        prop = given if isinstance(given, dict) else {}
        kind, choices = _kind(_resolved(prop, schema))
        default = prop.get("default")
        shown = sent.get(name)
        if shown is None:
            shown = "" if default is None else _text(default, kind)
        description = str(prop.get("description") or "")
        fields.append(FormField(name, kind, name in required, shown, choices, description))
    return fields


def _resolved(prop: Any, root: dict[str, Any]) -> Any:
    """A property's schema, through a local ``$ref`` and an ``anyOf`` of one type and null."""
    if not isinstance(prop, dict):
        return {}
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return (root.get("$defs") or {}).get(ref.removeprefix("#/$defs/"), {})
    options = [p for p in prop.get("anyOf", ()) if p != {"type": "null"}]
    return options[0] if len(options) == 1 and len(prop.get("anyOf", ())) == 2 else prop


def _kind(prop: Any) -> tuple[str, tuple[str, ...]]:
    choices = prop.get("enum") if isinstance(prop, dict) else None
    if isinstance(choices, list) and all(isinstance(choice, str) for choice in choices):
        return "choice", tuple(choices)
    kind = prop.get("type") if isinstance(prop, dict) else None
    return (SIMPLE.get(kind, "json") if isinstance(kind, str) else "json"), ()


def _text(value: Any, kind: str) -> str:
    if kind == "checkbox":
        return "true" if value else ""
    return value if isinstance(value, str) and kind != "json" else json.dumps(value)


def payload_of(fields: list[FormField], form: dict[str, list[str]]) -> Any:
    """The payload the form says: each field's text as its JSON type; an empty field is left
    out (its default is filled in at submit); text that is not of the type is sent as text, so
    the schema's check names the field."""
    if len(fields) == 1 and fields[0].name == "payload" and fields[0].kind == "json":
        return _json_or_text((form.get("payload") or ["{}"])[0] or "{}")
    payload: dict[str, Any] = {}
    for field in fields:
        text = (form.get(f"field.{field.name}") or [""])[0]
        if field.kind == "checkbox":
            payload[field.name] = text == "true"
        elif text.strip() == "":
            continue
        elif field.kind == "integer":
            payload[field.name] = int(text) if text.strip().lstrip("-").isdigit() else text
        elif field.kind == "number":
            payload[field.name] = _number(text)
        elif field.kind == "json":
            payload[field.name] = _json_or_text(text)
        else:
            payload[field.name] = text
    return payload


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def by_field(exc: InvalidJob | UnknownJobType) -> dict[str, str]:
    """The problems of a refused payload by the form's field (its top-level property):
    ``payload.items[0].sku`` is the ``items`` field's ``[0].sku: is required``."""
    found: dict[str, list[str]] = {}
    for problem in getattr(exc, "problems", ()):
        path = problem.field.removeprefix("payload.")
        top = re.split(r"[.\[]", path, maxsplit=1)[0]
        inner = path[len(top) :].lstrip(".")
        found.setdefault(top, []).append(
            f"{inner}: {problem.message}" if inner else problem.message
        )
    return {field: "; ".join(messages) for field, messages in found.items()}


async def _info(request: Request, name: str) -> TypeInfo | None:
    return next((i for i in await jobqueue_of(request).types() if i.name == name), None)


def _page(
    request: Request,
    info: TypeInfo,
    status: int = 200,
    sent: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    error: str | None = None,
) -> HTMLResponse:
    document = type_document(info)
    return render(
        request,
        "type.html",
        status,
        nav="types",
        info=info,
        document=document,
        fields=form_fields(document["payload_schema"], sent),
        problems=problems or {},
        queue=(sent or {}).get("queue", DEFAULT_QUEUE),
        error=error,
    )


@router.get("/ui/types/{name}", response_class=HTMLResponse)
async def type_page(request: Request, name: str) -> HTMLResponse:
    info = await _info(request, name)
    if info is None:
        return render(
            request, "missing.html", 404, nav="types", message=f"no job type {name!r} is known"
        )
    return _page(request, info)


@router.post("/ui/types/{name}/enqueue")
async def enqueue_action(request: Request, name: str) -> Response:
    form = await posted_form(request)
    refused = forged(request, form)
    if refused is not None:
        return refused
    info = await _info(request, name)
    if info is None:
        return render(
            request, "missing.html", 404, nav="types", message=f"no job type {name!r} is known"
        )
    document = type_document(info)
    fields = form_fields(document["payload_schema"])
    sent = {key.removeprefix("field."): values[0] for key, values in form.items() if values}
    queue = (form.get("queue") or [DEFAULT_QUEUE])[0].strip() or DEFAULT_QUEUE
    payload = payload_of(fields, form)
    try:
        check_name(queue, what="queue")
        if not isinstance(payload, dict):
            raise InvalidJob("the payload must be a JSON object")
        job = await jobqueue_of(request).enqueue(name, payload, queue=queue)
    except ValueError as exc:
        return _page(request, info, 422, sent, error=str(exc))
    except (InvalidJob, UnknownJobType) as exc:
        return _page(request, info, 422, sent, by_field(exc), str(exc))
    return RedirectResponse(f"/ui/jobs/{job.id}?done=enqueued", status_code=303)
