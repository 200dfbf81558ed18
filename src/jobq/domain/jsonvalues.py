"""The JSON jobq accepts and writes: compact, strict (NaN and Infinity are not JSON), and nested
at most ``MAX_DEPTH`` deep. One policy for the API, the settings, the worker and the stores."""

from __future__ import annotations

import json
from typing import Any

from jobq.domain.errors import InvalidJob

#: the deepest nesting of arrays and objects jobq stores (the API answers with what it stores)
MAX_DEPTH = 64


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def dumps(value: Any, *, what: str) -> str:
    """Encode ``value``; raise ``InvalidJob`` naming ``what`` if it is not plain JSON."""
    if depth(value) > MAX_DEPTH:
        raise InvalidJob(f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels")
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"{what} is not JSON-serializable: {exc}") from exc


def compact(value: Any) -> str:
    """Values jobq built itself (already checked), as compact JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
