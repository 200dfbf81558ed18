"""JSON as the stores write it: compact, and strict (NaN and Infinity are not JSON)."""

from __future__ import annotations

import json
from typing import Any

from jobq.domain.errors import InvalidJob


def dumps(value: Any, *, what: str) -> str:
    """Encode ``value``; raise ``InvalidJob`` naming ``what`` if it is not plain JSON."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"{what} is not JSON-serializable: {exc}") from exc


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
