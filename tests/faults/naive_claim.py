"""The mutation the claim race must catch: a naive claim, for tests only (never in src/).

It SELECTs the ids of due jobs in one statement (its own read, or transaction), then UPDATEs
those ids to ``running`` in others (SQLite: one; PostgreSQL: one per row, so that it cannot
deadlock on its own rows), without checking again that they are still claimable:
between the two, another claimer may select and take the same rows, and both "win". The real
claims do it in one statement (SQLite: UPDATE ... WHERE id IN (SELECT ...) under the write lock;
PostgreSQL: FOR UPDATE SKIP LOCKED). ``install()`` puts the naive claim in place of both
stores' ``claim`` in this process; ``claimer.py`` calls it when ``JOBQ_TEST_NAIVE_CLAIM=1``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import timedelta

from jobq.domain.ids import WorkerId
from jobq.domain.job import Job
from jobq.store.postgres.rows import columns, job_from_record
from jobq.store.postgres.store import PostgresStore
from jobq.store.sqlite.rows import JOB_COLUMNS, job_from_row, to_us
from jobq.store.sqlite.store import SQLiteStore

NAIVE_CLAIM_VARIABLE = "JOBQ_TEST_NAIVE_CLAIM"


async def naive_sqlite_claim(
    self: SQLiteStore,
    owner: WorkerId,
    *,
    queues: Sequence[str] | None,
    limit: int,
    lease_seconds: float,
) -> list[Job]:
    moment = self.clock.now()
    now, until = to_us(moment), to_us(moment + timedelta(seconds=lease_seconds))

    def select(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT id FROM jobs WHERE status IN ('pending', 'failed') AND run_at <= ? "
            "ORDER BY priority DESC, run_at, id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [str(row[0]) for row in rows]

    ids = await self._reader.read(select)  # 1. read the candidates
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)

    def update(conn: sqlite3.Connection) -> list[Job]:  # 2. take them, without re-checking
        rows = conn.execute(
            f"UPDATE jobs SET status = 'running', attempt = attempt + 1, worker_id = ?, "
            f"lease_expires_at = ?, started_at = ? WHERE id IN ({marks}) "
            f"RETURNING {JOB_COLUMNS}",
            (owner, until, now, *ids),
        ).fetchall()
        return [job_from_row(row) for row in rows]

    return await self._writer.write(update)


async def naive_postgres_claim(
    self: PostgresStore,
    owner: WorkerId,
    *,
    queues: Sequence[str] | None,
    limit: int,
    lease_seconds: float,
) -> list[Job]:
    jobs = self._sql.jobs
    picked = await self._fetch(  # 1. read the candidates (no FOR UPDATE), one transaction
        f"SELECT id FROM {jobs} WHERE status IN ('pending', 'failed') AND run_at <= now() "
        "ORDER BY priority DESC, run_at, id LIMIT %(limit)s",
        {"limit": limit},
    )
    if not picked:
        return []
    taken: list[Job] = []
    for (job_id,) in picked:  # 2. take them, without re-checking, one transaction each
        # (one row per statement: the naive claim must race, not deadlock on its own rows)
        rows = await self._fetch(
            f"UPDATE {jobs} SET status = 'running', attempt = attempt + 1, "
            "worker_id = %(owner)s, "
            "lease_expires_at = now() + %(lease)s::float8 * interval '1 second', "
            f"started_at = now() WHERE id = %(id)s RETURNING {columns(jobs)}",
            {"owner": owner, "lease": lease_seconds, "id": job_id},
        )
        taken.extend(job_from_record(row) for row in rows)
    return taken


def install() -> None:
    """Replace both stores' claim with the naive one, in this process."""
    setattr(SQLiteStore, "claim", naive_sqlite_claim)  # noqa: B010 - a deliberate mutation
    setattr(PostgresStore, "claim", naive_postgres_claim)  # noqa: B010
