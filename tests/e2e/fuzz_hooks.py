"""schemathesis hooks for ``test_openapi_fuzz.py``, loaded in its subprocess through
``SCHEMATHESIS_HOOKS``: strings that are not Unicode in the bodies of ``POST /jobs`` and
``POST /jobs/batch``.

A schema cannot say "valid Unicode", and a generator draws code points, never a lone surrogate
(``"\\ud800"``, which JSON can escape and UTF-8 cannot encode). So about half the bodies of
those two operations get one, drawn by hypothesis (seeded, shrunk): at the end of a string
value or key anywhere in the body, or as a new payload field; the job type is made one this
server knows, so the payload reaches the store rather than an ``unknown_job_type`` refusal.
The body goes out as JSON with the escape (``json.dumps`` writes ASCII). Each body changed is
counted as a line in the file ``JOBQ_FUZZ_INJECTED`` names, if set (the test checks some were).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import strategies as st

#: both halves of a pair, and the ends of their ranges
SURROGATES = ("\ud800", "\udbff", "\udc00", "\udfff")
KNOWN_TYPE = "echo"


@schemathesis.hook("flatmap_body").apply_to(method="POST", path=["/jobs", "/jobs/batch"])
def lone_surrogates(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """The body as generated, or (as often) with one lone surrogate in it."""
    if not isinstance(body, dict):
        return st.just(body)
    return st.one_of(st.just(body), _with_a_surrogate(body))


def _with_a_surrogate(body: dict[str, Any]) -> st.SearchStrategy[Any]:
    known = _with_known_types(body)
    spots = _spots(known)
    if not spots:
        return st.just(body)
    return st.builds(_inject, st.just(known), st.sampled_from(spots), st.sampled_from(SURROGATES))


def _with_known_types(body: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` whose job types (``type``, ``jobs[i].type``) this server knows."""
    copy = _copy(body)
    jobs = copy.get("jobs")
    for job in [copy, *(jobs if isinstance(jobs, list) else [])]:
        if isinstance(job, dict) and isinstance(job.get("type"), str):
            job["type"] = KNOWN_TYPE
    return copy


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# A spot: the path to a container (dict or list), the key or index in it, and what to change
# there: the string value ("value"), the key itself ("key"), or a new field of a payload ("field").
Spot = tuple[tuple[Any, ...], Any, str]


def _spots(body: dict[str, Any]) -> list[Spot]:
    spots: list[Spot] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), body)]
    while stack:
        path, container = stack.pop()
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, item in items:
            if isinstance(container, dict):
                spots.append((path, key, "key"))
                if key == "payload" and isinstance(item, dict):
                    spots.append(((*path, key), "s", "field"))
            if isinstance(item, str):
                spots.append((path, key, "value"))
            elif isinstance(item, dict | list):
                stack.append(((*path, key), item))
    return spots


def _inject(body: dict[str, Any], spot: Spot, surrogate: str) -> dict[str, Any]:
    copy = _copy(body)  # each draw its own: the strategy hands out `body` to every draw
    path, key, what = spot
    container: Any = copy
    for step in path:
        container = container[step]
    if what == "value":
        container[key] += surrogate
    elif what == "key":
        container[f"{key}{surrogate}"] = container.pop(key)
    else:
        container[key] = f"x{surrogate}"
    count = os.environ.get("JOBQ_FUZZ_INJECTED")
    if count:
        with open(count, "a", encoding="ascii") as file:
            file.write(f"{path!a} {key!a} {what} {surrogate!a}\n")
    return copy
