"""What a job type and a queue may be called: short, printable, safe in URLs, logs and labels."""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]*")
MAX_NAME = 200

#: the same rule as a JSON Schema pattern, for the API's schema
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,199}$"
NAME_RULE = "1-200 characters: letters, digits and _ . : - (starting with a letter or digit)"


#: names already found good: a service sees few, each on every job (bounded, in case not)
_GOOD: set[str] = set()
_GOOD_MAX = 10_000


def check_name(value: str, *, what: str) -> str:
    """Return ``value`` or raise ``ValueError`` saying what a ``what`` may be called."""
    if not isinstance(value, str):
        raise ValueError(f"{what} {value!r} is not allowed: {NAME_RULE}")
    if value in _GOOD:
        return value
    if not (0 < len(value) <= MAX_NAME and _NAME.fullmatch(value)):
        raise ValueError(f"{what} {value!r} is not allowed: {NAME_RULE}")
    if len(_GOOD) < _GOOD_MAX:
        _GOOD.add(value)
    return value


def did_you_mean(value: str, names: list[str]) -> str:
    """`` (did you mean `work.item`?)`` for the name of ``names`` closest to a mistyped
    ``value``, or "" when none is close."""
    import difflib  # only on this error path

    close = difflib.get_close_matches(value, names, n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""
