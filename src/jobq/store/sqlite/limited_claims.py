"""A limited claim on SQLite (``store/limits.py``): under the claim's write lock, count what the
limits count, then read candidates and take those the limits allow, round by round."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import Any

from jobq.domain.limits import LimitScope
from jobq.store.limits import LimitPlan, candidate
from jobq.store.sqlite.claim_sql import TAKE, bound, candidates_sql
from jobq.store.sqlite.fence import RUNNING

ENDED_STARTS = "DELETE FROM limit_starts WHERE window_end <= :now"
STARTS = "SELECT scope, name, part, window_end, n FROM limit_starts WHERE scope = ? AND name = ?"
RECORD_STARTS = """
INSERT INTO limit_starts (scope, name, part, window_end, n) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (scope, name, part) DO UPDATE SET
    n = CASE WHEN window_end = excluded.window_end THEN n + excluded.n ELSE excluded.n END,
    window_end = excluded.window_end
"""


def field_keys(count: int) -> str:
    """The value of each payload field ``:field0``... as text, as columns."""
    return "".join(f", CAST(json_extract(payload, :field{i}) AS TEXT)" for i in range(count))


def running_sql(field_count: int) -> str:
    """The running jobs of the limited types and queues (few: the running index's rows)."""
    return f"""
SELECT type, queue{field_keys(field_count)} FROM jobs
WHERE status = '{RUNNING}' AND (type IN (SELECT value FROM json_each(:types))
                                OR queue IN (SELECT value FROM json_each(:queues)))
"""


def claim_limited(
    conn: sqlite3.Connection,
    plan: LimitPlan,
    params: dict[str, Any],
    paused: Collection[str],
    waiting: Callable[[], Sequence[str]],
) -> list[Any]:
    """The rows of the jobs ``plan``'s claim takes (``params``: the claim's owner, times;
    ``paused``, ``waiting``: as ``around_pauses`` takes them), in the caller's write
    transaction."""
    fields = {f"field{i}": f"$.{field}" for i, field in enumerate(plan.fields)}
    scopes = {
        "types": json.dumps(plan.names(LimitScope.TYPE)),
        "queues": json.dumps(plan.names(LimitScope.QUEUE)),
    }
    plan.count_running(conn.execute(running_sql(len(fields)), {**scopes, **fields}))
    if plan.rates:
        conn.execute(ENDED_STARTS, {"now": params["now"]})
        for scope, name, _ in plan.rates:
            plan.count_starts(conn.execute(STARTS, (scope.value, name)))
    while (request := plan.next_request(paused, waiting)) is not None:
        sql = candidates_sql(request.shape, len(fields))
        read = {**params, **fields, **bound(request), "limit": request.limit}
        plan.offer([candidate(row) for row in conn.execute(sql, read)], request.limit)
    if not plan.chosen:
        return []
    # one statement: the kept counts' triggers run once per claim, as for any claim
    rows = conn.execute(TAKE, {**params, "ids": json.dumps(plan.chosen)}).fetchall()
    conn.executemany(RECORD_STARTS, plan.starts([row[0] for row in rows]))
    return rows
