"""Validation errors said in JSON's words: a client writing JSON reads "must be an integer, not a
string", not pydantic's Python ("Input should be a valid integer"). The API's request errors and
the job types' payload checks both speak so."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: pydantic's error types whose message speaks Python ("a valid dictionary"), in JSON's words
_EXPECTED = {
    "dict_type": "a JSON object",
    "model_type": "a JSON object",
    "model_attributes_type": "a JSON object",
    "list_type": "a JSON array",
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def json_kind(value: Any) -> str:
    """What ``value`` was in the request's JSON: an object, an array, a string, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def in_json_words(error: Mapping[str, Any]) -> str:
    """A validation error's message as a client writing JSON would say it."""
    kind = error.get("type", "")
    if kind in _EXPECTED:
        return f"must be {_EXPECTED[kind]}, not {json_kind(error.get('input'))}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a field of this request"
    message = str(error["msg"]).removeprefix("Value error, ")
    return (
        "must be " + message.removeprefix("Input should be ")
        if message.startswith("Input should be ")
        else message
    )


def json_path(root: str, loc: Sequence[str | int]) -> str:
    """``("items", 2, "sku")`` under ``payload`` -> ``payload.items[2].sku``."""
    text = root
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
