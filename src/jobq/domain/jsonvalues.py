"""The JSON jobq accepts and writes: compact, strict (NaN and Infinity are not JSON), nested
at most ``MAX_DEPTH`` deep, and Unicode that UTF-8 can encode (no lone surrogate, such as the
escape ``"\\ud800"``, which JSON allows). One policy for the API, the settings, the worker and
the stores."""

from __future__ import annotations

import json
import re
from typing import Any

from jobq.domain.errors import InvalidJob

#: the deepest nesting of arrays and objects jobq stores (the API answers with what it stores)
MAX_DEPTH = 64

# A Python string may hold surrogate code points (a JSON escape such as "\ud800", a command-line
# argument that is not UTF-8); UTF-8 cannot encode them, so no store can hold them.
_SURROGATE = re.compile("[\ud800-\udfff]")
# a key written as `.key` in a path; any other as `["key"]`
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


def is_unicode(text: str) -> bool:
    """Whether UTF-8 can encode ``text``: it holds no surrogate code point."""
    return text.isascii() or _SURROGATE.search(text) is None


def as_unicode(text: str) -> str:
    """``text`` with each surrogate code point replaced by U+FFFD (for text jobq only records,
    such as an error message, that must not be lost for one bad character)."""
    return text if is_unicode(text) else _SURROGATE.sub("\ufffd", text)


def unicode_problem(value: Any, path: str = "") -> str | None:
    """The path (``payload.s[1]``, from ``path``) of the first string in ``value``, key or
    value, that UTF-8 cannot encode; None if there is none. A key that is not a plain name is
    written escaped: ``payload["\\ud800"]``."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return where
        elif isinstance(item, dict):
            children = []
            for key, child in item.items():
                inner = _key_path(where, key)
                if isinstance(key, str) and not is_unicode(key):
                    return inner
                children.append((child, inner))
            stack.extend(reversed(children))  # in document order
        elif isinstance(item, list | tuple):
            stack.extend((item[i], f"{where}[{i}]") for i in reversed(range(len(item))))
    return None


def not_unicode(what: str, where: str | None = None) -> str:
    """The message for ``what`` holding a string, at ``where`` (a path), that UTF-8 cannot
    encode."""
    at = f" at {where}" if where and where != what else ""
    return (
        f"{what} is not valid Unicode{at}: a lone surrogate (U+D800 to U+DFFF, such as the "
        "escape \\ud800), which UTF-8 cannot encode"
    )


def _key_path(where: str, key: Any) -> str:
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{where}.{key}" if where else key
    return f"{where}[{json.dumps(str(key))}]"  # escaped: the path itself is always ASCII


# Made once: ``json.dumps`` with any argument builds an encoder per call.
_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: Any, *, what: str, path: str | None = None) -> str:
    """Encode ``value``; raise ``InvalidJob`` naming ``what`` if it is not plain JSON, and the
    string (under ``path``, by default ``what``) if one is not valid Unicode."""
    if depth(value) > MAX_DEPTH:
        raise InvalidJob(f"{what} nests arrays and objects deeper than {MAX_DEPTH} levels")
    try:
        text = _STRICT.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"{what} is not JSON-serializable: {exc}") from exc
    if not is_unicode(text):  # the encoded text: checked in C, a walk only to name the string
        raise InvalidJob(not_unicode(what, unicode_problem(value, what if path is None else path)))
    return text


def compact(value: Any) -> str:
    """Values jobq built itself (already checked), as compact JSON."""
    return _COMPACT.encode(value)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
