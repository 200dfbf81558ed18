"""JSON as the stores write it: compact, and strict (NaN and Infinity are not JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jobq.domain.errors import InvalidJob
from jobq.domain.job import NewJob

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


def new_job_rows(
    ids: Sequence[str],
    jobs: Sequence[NewJob],
    payloads: Sequence[str],
    run_ats: Sequence[int | str | None],
) -> str:
    """A batch to enqueue as one JSON array of [id, queue, type, payload (encoded), priority,
    run_at (as the store writes times; None: now), max_attempts, timeout, backoff (encoded),
    idempotency_key] rows, which the database unpacks in one INSERT: encoded here in C rather
    than bound as one statement per job or ten typed arrays."""
    return rows_json(
        [
            [
                job_id,
                job.queue,
                job.type,
                payload,
                job.priority,
                run_at,
                job.max_attempts,
                None if job.timeout is None else float(job.timeout),
                None if job.backoff is None else dumps(job.backoff.to_dict(), what="backoff"),
                job.idempotency_key,
            ]
            for job_id, job, payload, run_at in zip(ids, jobs, payloads, run_ats, strict=True)
        ]
    )


def rows_json(rows: list[list[Any]]) -> str:
    """Rows the store built itself (already checked), as one compact JSON array."""
    return json.dumps(rows, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)
