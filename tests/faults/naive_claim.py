"""The mutation the claim race must catch: a naive claim, for tests only (never in src/).

It SELECTs the ids of due jobs in one statement (its own read, or transaction), then UPDATEs
those ids to ``running`` in others (SQLite: one; PostgreSQL: one per row, so that it cannot
deadlock on its own rows), without checking again that they are still claimable:
between the two, another claimer may select and take the same rows, and both "win". The real
claims do it in one statement (SQLite: UPDATE ... WHERE id IN (SELECT ...) under the write lock;
PostgreSQL: FOR UPDATE SKIP LOCKED). ``install()`` puts the naive claim in place of both
stores' ``Claims.claim`` in this process; ``claimer.py`` calls it when ``JOBQ_TEST_NAIVE_CLAIM=1``.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

from jobq.domain.job import Job
from jobq.store.claim import ClaimRequest
from jobq.store.common import JOB_COLUMNS
from jobq.store.postgres.claims import PostgresClaims
from jobq.store.postgres.rows import READ as POSTGRES_ROWS
from jobq.store.postgres.rows import columns
from jobq.store.sqlite.claims import SQLiteClaims
from jobq.store.sqlite.rows import READ as SQLITE_ROWS
from jobq.store.sqlite.rows import to_us

NAIVE_CLAIM_VARIABLE = "JOBQ_TEST_NAIVE_CLAIM"


async def naive_sqlite_claim(self: SQLiteClaims, request: ClaimRequest) -> list[Job]:
    db = self._db
    owner, limit = request.owner, request.limit
    moment = db.clock.now()
    now, until = to_us(moment), to_us(moment + timedelta(seconds=request.lease_seconds))

    def select(conn: sqlite3.Connection) -> list[str]:
        rows = conn.execute(
            "SELECT id FROM jobs WHERE status IN ('pending', 'failed') AND run_at <= ? "
            "ORDER BY priority DESC, run_at, id LIMIT ?",
            (now, limit),
        ).fetchall()
        return [str(row[0]) for row in rows]

    ids = await db.reader.read(select)  # 1. read the candidates
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
        return [SQLITE_ROWS.job(row) for row in rows]

    return await db.writer.write(update)


async def naive_postgres_claim(self: PostgresClaims, request: ClaimRequest) -> list[Job]:
    db, jobs = self._ctx.db, self._ctx.tables.jobs
    picked = await db.fetch(  # 1. read the candidates (no FOR UPDATE), one transaction
        f"SELECT id FROM {jobs} WHERE status IN ('pending', 'failed') AND run_at <= now() "
        "ORDER BY priority DESC, run_at, id LIMIT %(limit)s",
        {"limit": request.limit},
    )
    if not picked:
        return []
    taken: list[Job] = []
    for (job_id,) in picked:  # 2. take them, without re-checking, one transaction each
        # (one row per statement: the naive claim must race, not deadlock on its own rows)
        rows = await db.fetch(
            f"UPDATE {jobs} SET status = 'running', attempt = attempt + 1, "
            "worker_id = %(owner)s, "
            "lease_expires_at = now() + %(lease)s::float8 * interval '1 second', "
            f"started_at = now() WHERE id = %(id)s RETURNING {columns(jobs)}",
            {"owner": request.owner, "lease": request.lease_seconds, "id": job_id},
        )
        taken.extend(POSTGRES_ROWS.job(row) for row in rows)
    return taken


def install() -> None:
    """Replace both stores' claim with the naive one, in this process."""
    setattr(SQLiteClaims, "claim", naive_sqlite_claim)  # noqa: B010 - a deliberate mutation
    setattr(PostgresClaims, "claim", naive_postgres_claim)  # noqa: B010
