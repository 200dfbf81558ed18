"""The SQL of a claim on SQLite: the statement that takes due jobs under the write lock, the
candidates a limited claim reads (``store/limits.py``), and the update that takes them."""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from jobq.store.claim import (
    CLAIM_ORDER,
    CLAIMABLE,
    ClaimRequest,
    ClaimShape,
    claim_condition,
    claim_params,
    pair_arms,
    type_arms,
)
from jobq.store.common import JOB_COLUMNS
from jobq.store.sqlite.fence import RUNNING


class SQLiteDialect:
    now = ":now"
    # the claim reads the pauses under its write lock, and is rewritten around them
    paused = None

    def member(self, column: str, name: str, count: int) -> str:
        if count == 1:
            return f"{column} = :{name}0"
        return f"{column} IN ({', '.join(f':{name}{i}' for i in range(count))})"

    def member_params(self, name: str, values: Sequence[str]) -> dict[str, Any]:
        return {f"{name}{i}": value for i, value in enumerate(values)}

    def single(self, name: str) -> str:
        return f":{name}0"


DIALECT = SQLiteDialect()
#: more types than this are filtered in one walk (SQLite allows 500 arms in a compound SELECT)
MAX_TYPE_ARMS = 100


#: what a claim sets on each job it takes
CLAIM_SET = f"""
SET status = '{RUNNING}', attempt = attempt + 1, worker_id = :owner,
    lease_expires_at = :lease_until, started_at = :now, progress = NULL, progress_message = NULL
"""
#: the columns a limited claim reads of each candidate, before the payload fields'
CANDIDATE_COLUMNS = "id, type, queue, priority, run_at"


@functools.cache
def claim_sql(shape: ClaimShape) -> str:
    """The statement that guarantees a job is claimed once: the inner SELECT picks jobs that may
    be claimed, in claim order, and the UPDATE marks them in the same statement, under the
    write lock of BEGIN IMMEDIATE.

    INDEXED BY pins a partial index of waiting jobs: walked in claim order, it stops after
    LIMIT rows however many jobs wait. Without it the planner may pick the status index and
    sort every due job on each claim. (By type: an arm per type on the type's own index. Any
    type: one queue, its own index; several or all, the global one, filtering.)"""
    return f"""
UPDATE jobs {CLAIM_SET}
WHERE id IN ({picked(shape)})
RETURNING {JOB_COLUMNS}
"""


@functools.cache
def candidates_sql(shape: ClaimShape, field_count: int) -> str:
    """What a limited claim of ``shape`` reads: the jobs the claim would take, at most
    ``:limit``, with their ``CANDIDATE_COLUMNS`` and the value of each payload field
    ``:field0``... (a JSON path) as text."""
    fields = "".join(
        f", CAST(json_extract(payload, :field{i}) AS TEXT) AS k{i}" for i in range(field_count)
    )
    return picked(shape, CANDIDATE_COLUMNS + fields)


#: a limited claim takes the candidates it chose (still waiting: it holds the write lock)
TAKE = f"""
UPDATE jobs {CLAIM_SET}
WHERE id IN (SELECT value FROM json_each(:ids)) AND status IN {CLAIMABLE}
RETURNING {JOB_COLUMNS}
"""


def picked(shape: ClaimShape, columns: str = "id") -> str:
    """The ids (or ``columns``) of the jobs a claim of ``shape`` takes, in claim order, at
    most ``:limit``."""
    condition = claim_condition(shape, DIALECT)
    if shape.pair_count is not None:
        return arms(
            [
                f"type = :pair_type{i} AND queue = :pair_queue{i} AND {condition}"
                for i in range(shape.pair_count)
            ],
            "jobs_type_queue_due",
            columns,
        )
    if shape.type_count is None or shape.type_count > MAX_TYPE_ARMS:
        index = "jobs_queue_due" if shape.queue_count == 1 else "jobs_due"
        if shape.type_count is not None:  # beyond what a compound SELECT takes: filter
            condition += " AND " + DIALECT.member("type", "type", shape.type_count)
        return walk(columns, index, condition)
    return arms(
        [f"type = :type{i} AND {condition}" for i in range(shape.type_count)],
        "jobs_type_due",
        columns,
    )


def arms(conditions: list[str], index: str, columns: str = "id") -> str:
    """An arm per condition, each a walk of ``index`` that stops after ``:limit`` rows; the
    first ``:limit`` of them all, in claim order."""
    if len(conditions) == 1:
        return walk(columns, index, conditions[0])
    inner = "id, priority, run_at" if columns == "id" else columns
    walks = [walk(inner, index, condition) for condition in conditions]
    union = " UNION ALL ".join(f"SELECT * FROM ({arm})" for arm in walks)
    outer = "id" if columns == "id" else "*"
    return f"SELECT {outer} FROM ({union}) ORDER BY {CLAIM_ORDER} LIMIT :limit"


def walk(columns: str, index: str, condition: str) -> str:
    """Jobs that meet ``condition``, read from ``index`` in claim order, at most ``:limit``."""
    return (
        f"SELECT {columns} FROM jobs INDEXED BY {index} WHERE {condition} "
        f"ORDER BY {CLAIM_ORDER} LIMIT :limit"
    )


PAUSED = "SELECT queue FROM queue_pauses WHERE until IS NULL OR until > :now"
WAITING_QUEUES = f"SELECT DISTINCT queue FROM job_counts WHERE status IN {CLAIMABLE} AND n > 0"


def waiting_queues(conn: sqlite3.Connection) -> list[str]:
    """The queues that have jobs waiting (the kept counts: a few rows, not the jobs)."""
    return [queue for (queue,) in conn.execute(WAITING_QUEUES)]


WAITING_TYPES = f"""
SELECT value FROM json_each(:types) AS wanted
WHERE EXISTS (SELECT 1 FROM jobs WHERE type = wanted.value AND status IN {CLAIMABLE})
"""


def waiting_types(conn: sqlite3.Connection, names: list[str]) -> set[str]:
    """Those of the types ``names`` that have jobs waiting (the first row of each one's index
    of waiting jobs)."""
    return {name for (name,) in conn.execute(WAITING_TYPES, {"types": json.dumps(names)})}


def bound(request: ClaimRequest) -> dict[str, Any]:
    """What a claim statement of ``request``'s shape binds of it: its arms (by type or by
    pair) and its condition's names."""
    return {**type_arms(request), **claim_params(request, DIALECT), **pair_arms(request)}
