"""Secret payload fields: a job type names them (``@jq.job("mail", secret=["password"])``) and
jobq keeps their values out of what people read: the API's and dashboard's view of the job, and
the error messages, tracebacks, progress messages and results a handler leaves (errors are also
logged). The handler still gets the real payload; the store keeps it as sent. Values shorter
than ``MIN_SCRUBBED`` characters are not cut out of free text (a PIN of "12" would blank every
"12"), though their fields are still shown as ``[redacted]``."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

REDACTED = "[redacted]"
#: shorter values are not scrubbed from error text: "1" or "yes" would blank out half of it
MIN_SCRUBBED = 4


def redact_payload(value: Any, fields: Collection[str]) -> Any:
    """``value`` with every secret field's value, at any depth, replaced by ``REDACTED``."""
    if not fields:
        return value
    if isinstance(value, dict):
        return {
            key: REDACTED if key in fields else redact_payload(item, fields)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_payload(item, fields) for item in value]
    return value


def secret_values(value: Any, fields: Collection[str]) -> list[str]:
    """The text of every secret field's value in ``value``, longest first."""
    found = {text for text in _secrets(value, fields) if len(text) >= MIN_SCRUBBED}
    return sorted(found, key=len, reverse=True)


def _secrets(value: Any, fields: Collection[str]) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in fields:
                yield from _texts(item)
            else:
                yield from _secrets(item, fields)
    elif isinstance(value, list):
        for item in value:
            yield from _secrets(item, fields)


def _texts(value: Any) -> Iterator[str]:
    """Every way a secret value may show in text: whole (as JSON and as a repr), and each
    string or number inside it, bare and as it shows inside a repr."""
    if isinstance(value, dict | list):
        yield json.dumps(value)
        yield repr(value)
        for item in value.values() if isinstance(value, dict) else value:
            yield from _texts(item)
    elif isinstance(value, str):
        yield value
        yield repr(value)[1:-1]
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def scrub(text: str | None, values: list[str]) -> str | None:
    """``text`` with every one of ``values`` replaced by ``REDACTED``."""
    if text is None:
        return None
    for secret in values:
        text = text.replace(secret, REDACTED)
    return text


def scrub_value(value: Any, values: list[str]) -> Any:
    """``value`` (a result: JSON-like) with ``values`` cut out of every string in it."""
    if not values:
        return value
    if isinstance(value, str):
        return scrub(value, values)
    if isinstance(value, dict):
        return {key: scrub_value(item, values) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item, values) for item in value]
    return value
