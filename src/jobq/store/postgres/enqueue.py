"""Enqueue on PostgreSQL: a batch in one INSERT, unpacked from one JSON array, that also wakes
the pools; in a transaction of its own, or in the caller's (``enqueue_in``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row

from jobq.domain.errors import InvalidJob
from jobq.domain.ids import new_job_id
from jobq.domain.job import EnqueueResult, Job, NewJob
from jobq.domain.states import JobState
from jobq.store.common import (
    UNIQUE_ROUNDS,
    by_key,
    encode_payloads,
    enqueue_results,
    missing_keys,
    missing_unique_keys,
    new_job_rows,
    orphans,
    unique_replacements,
)
from jobq.store.postgres.connection import translate
from jobq.store.postgres.context import Context
from jobq.store.postgres.grouping import EnqueueGroups
from jobq.store.postgres.rows import READ, columns
from jobq.store.postgres.sql import NOW


class PostgresEnqueuer:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._groups = EnqueueGroups(self._write)
        jobs = ctx.tables.jobs
        # The insert wakes listening pools in the same statement (one round trip less): the
        # NOTIFY of each queue with a job due now is sent when the transaction commits.
        self._insert = f"""
            WITH new AS (
                INSERT INTO {jobs} (id, queue, type, payload, status, priority, run_at, attempt,
                                    max_attempts, timeout, backoff, idempotency_key, created_at,
                                    unique_key, unique_states, workflow_id, parents,
                                    waiting_on, on_dependency_failure)
                SELECT (given.v->>0)::uuid, given.v->>1, given.v->>2, (given.v->>3)::json,
                       CASE WHEN (given.v->>13)::int > 0 THEN '{JobState.WAITING.value}'
                            ELSE '{JobState.PENDING.value}' END,
                       (given.v->>4)::smallint,
                       COALESCE((given.v->>5)::timestamptz, {NOW}), 0, (given.v->>6)::int,
                       (given.v->>7)::float8, (given.v->>8)::json, given.v->>9, {NOW},
                       given.v->>10, string_to_array(given.v->>11, ','),
                       given.v->>12, COALESCE((given.v->>13)::int, 0),
                       COALESCE((given.v->>13)::int, 0), given.v->>14
                FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS given (v, position)
                ORDER BY given.position
                ON CONFLICT DO NOTHING
                RETURNING id, queue, run_at, created_at, run_at <= {NOW} AS due
            ), woken AS (
                SELECT count(pg_notify(%(channel)s, queue)) AS queues
                FROM (SELECT DISTINCT queue FROM new WHERE due) AS due_queues
            )
            SELECT new.id, new.run_at, new.created_at FROM new, woken"""
        self._by_keys = (
            f"SELECT {columns(jobs)} FROM {jobs} WHERE idempotency_key = ANY(%(keys)s::text[])"
        )
        # a pending holder of a unique key takes the payload and run time of the job that met it
        self._replace_pending = f"""
            UPDATE {jobs} SET payload = %(payload)s::json,
                              run_at = COALESCE(%(run_at)s::timestamptz, {NOW})
            WHERE id = %(id)s AND status = '{JobState.PENDING.value}'
            RETURNING {columns(jobs)}"""
        self._by_unique_keys = (
            f"SELECT unique_key, {columns(jobs)} FROM {jobs} "
            "WHERE unique_key = ANY(%(keys)s::text[])"
        )

    async def enqueue(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        """Store ``jobs`` in one transaction; calls made meanwhile by other tasks share it
        (group commit, ``grouping.py``)."""
        if not jobs:
            return []
        return await self._groups.enqueue(jobs)

    async def _write(self, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        async def run(conn: psycopg.AsyncConnection[Any]) -> list[EnqueueResult]:
            return await self.insert(conn, jobs, commit=True)

        return await self._ctx.db.run(run)

    async def insert(
        self,
        conn: psycopg.AsyncConnection[Any],
        jobs: Sequence[NewJob],
        *,
        commit: bool,
        ids: Sequence[str] | None = None,
    ) -> list[EnqueueResult]:
        """Insert ``jobs`` on ``conn``, in its transaction; ``commit``: the transaction is
        ours, and may be committed with the statement when no idempotency key could make this
        batch roll back. ``ids``: theirs, if already chosen."""
        ids = [new_job_id() for _ in jobs] if ids is None else list(ids)
        payloads = encode_payloads(jobs)
        run_ats = [None if job.run_at is None else job.run_at.isoformat() for job in jobs]
        params = {
            "rows": new_job_rows(ids, jobs, payloads, run_ats),
            "now": self._ctx.now(),
            "channel": self._ctx.tables.channel,
        }
        cursor = conn.cursor(row_factory=tuple_row)
        keyed = any(job.idempotency_key or job.unique_key for job in jobs)
        alone = commit and not keyed
        if alone and conn.info.transaction_status is TransactionStatus.IDLE:
            # The statement is the whole transaction: sent in autocommit it commits by itself,
            # one round trip with no BEGIN or COMMIT (and no pipeline to drive: about a third
            # of a lone enqueue's time in the client). A keyed batch may have to read the jobs
            # its keys name in the same transaction: it takes the path below.
            await conn.set_autocommit(True)
            try:
                await cursor.execute(self._insert, params)
            finally:
                if not (conn.closed or conn.broken):  # a lost one is not reused
                    await conn.set_autocommit(False)
        else:
            async with conn.pipeline():  # BEGIN goes with the statement (and COMMIT, if ours)
                await cursor.execute(self._insert, params)
                if alone:
                    await conn.execute("COMMIT")
        inserted = self._inserted(await cursor.fetchall())
        if not keyed:  # every job was inserted: nothing to look up
            return enqueue_results(jobs, ids, payloads, inserted, {})
        existing: dict[str, Job] = {}
        holders: dict[str, Job] = {}
        woken: set[str] = set()
        todo = list(range(len(jobs)))
        for round_ in range(1, UNIQUE_ROUNDS + 1):
            mine = [jobs[i] for i in todo]
            mine_ids = [ids[i] for i in todo]
            keys = missing_keys(mine, mine_ids, inserted)
            if keys:  # idempotency keys that name jobs already (perhaps earlier in this batch)
                await cursor.execute(self._by_keys, {"keys": keys})
                existing.update(by_key(map(READ.job, await cursor.fetchall())))
            unique = missing_unique_keys(mine, mine_ids, inserted, existing)
            if unique:  # unique jobs that hold these keys (perhaps earlier in this batch)
                await cursor.execute(self._by_unique_keys, {"keys": unique})
                holders.update({row[0]: READ.job(row[1:]) for row in await cursor.fetchall()})
                await self._replace(cursor, todo, jobs, ids, payloads, run_ats, inserted,
                                    existing, holders, woken, self._ctx.now())  # fmt: skip
            # A holder that left its unique states since the insert (claimed, say) holds
            # nothing now: its jobs are inserted again, in this transaction.
            todo = orphans(jobs, ids, todo, inserted, existing, holders)
            if not todo or round_ == UNIQUE_ROUNDS:
                break
            again = {**params, "rows": new_job_rows(
                [ids[i] for i in todo], [jobs[i] for i in todo], [payloads[i] for i in todo],
                [run_ats[i] for i in todo],
            )}  # fmt: skip
            await cursor.execute(self._insert, again)
            inserted.update(self._inserted(await cursor.fetchall()))
        await self._ctx.tables.notify(conn, woken)
        return enqueue_results(jobs, ids, payloads, inserted, existing, holders)

    @staticmethod
    def _inserted(rows: list[tuple[Any, ...]]) -> dict[str, tuple[datetime, datetime]]:
        return {
            str(job_id): (run_at.astimezone(UTC), created_at.astimezone(UTC))
            for job_id, run_at, created_at in rows
        }

    async def _replace(
        self,
        cursor: psycopg.AsyncCursor[tuple[Any, ...]],
        todo: list[int],
        jobs: Sequence[NewJob],
        ids: Sequence[str],
        payloads: Sequence[str],
        run_ats: Sequence[str | None],
        inserted: Mapping[str, Any],
        existing: Mapping[str, Job],
        holders: dict[str, Job],
        woken: set[str],
        now: datetime | None,
    ) -> None:
        """Give each pending holder met with ``replace`` the new payload and run time; a
        holder no longer pending is dropped from ``holders`` (its job is inserted again)."""
        for key, holder, payload, run_at in unique_replacements(
            [jobs[i] for i in todo], [ids[i] for i in todo], [payloads[i] for i in todo],
            [run_ats[i] for i in todo], inserted, existing, holders,
        ):  # fmt: skip
            replace = {"id": holder, "payload": payload, "run_at": run_at, "now": now}
            row = await (await cursor.execute(self._replace_pending, replace)).fetchone()
            if row is None:
                del holders[key]
                continue
            holders[key] = job = READ.job(row)
            woken.add(job.queue)  # due now or later: the pools look again either way


class PostgresTransactionalEnqueuer:
    def __init__(self, enqueuer: PostgresEnqueuer) -> None:
        self._enqueuer = enqueuer

    async def enqueue_in(self, connection: object, jobs: Sequence[NewJob]) -> list[EnqueueResult]:
        """Store ``jobs`` inside the caller's transaction on ``connection`` (a psycopg
        ``AsyncConnection``), committed or rolled back with it."""
        if not jobs:
            return []
        if not isinstance(connection, psycopg.AsyncConnection):
            raise InvalidJob(
                f"connection must be a psycopg AsyncConnection, not {type(connection).__name__}"
            )
        try:
            idle = connection.info.transaction_status is TransactionStatus.IDLE
            if idle and not connection.autocommit:
                # psycopg opens the caller's transaction with its next statement; open it now,
                # or transaction() below would begin and commit a transaction of its own.
                await connection.execute("SELECT 1")
            # A savepoint inside the caller's transaction (on an autocommit connection outside
            # one: a transaction of its own): an error here undoes only this enqueue.
            async with connection.transaction():
                return await self._enqueuer.insert(connection, jobs, commit=False)
        except psycopg.Error as exc:
            raise translate(exc) from exc
