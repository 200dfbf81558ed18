"""The PostgreSQL store: the same contract as SQLite, for many processes on many machines.

Every call is one transaction on a pooled connection, committed (``synchronous_commit`` as the
server has it, ``on`` by default) before it returns. Claims take rows with
``FOR UPDATE SKIP LOCKED``, so concurrent claimers pass each other's rows instead of waiting.
Enqueues, hand-backs and requeues NOTIFY; ``listen`` lets a worker pool claim at once.

Time: with no clock given, the statements read the database server's clock: a lease's start
and expiry, whether a job is due, every time stamp the store sets. So leases mean the same on
every machine whatever its own clock says. Times a process computes and hands in (``delay=``
on enqueue, a retry's due time) come from that process's clock. Tests pass a clock.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
import structlog
from psycopg import sql as pgsql
from psycopg.pq import TransactionStatus
from psycopg.rows import tuple_row
from structlog.typing import FilteringBoundLogger

from jobq.clock import Clock
from jobq.domain.errors import IdempotencyConflict, InvalidJob, JobNotFound, StoreError
from jobq.domain.ids import JobId, WorkerId, new_job_id
from jobq.domain.job import (
    WORKER_LOST_ERROR,
    Attempt,
    DeadReason,
    EnqueueResult,
    ErrorInfo,
    Job,
    JSONValue,
    Lease,
    MinuteCount,
    NewJob,
    Outcome,
    ProcessInfo,
    QueueCount,
)
from jobq.domain.states import Event, JobState, target, transition
from jobq.domain.tokens import ApiToken
from jobq.store.base import Completion, Expired, JobFilter, Page
from jobq.store.codec import dumps, loads, new_job_rows, rows_json
from jobq.store.options import PostgresOptions
from jobq.store.postgres import migrate as schema
from jobq.store.postgres.connection import Database, connect, translate
from jobq.store.postgres.rows import (
    as_uuid,
    attempt_from_record,
    job_from_record,
    process_from_record,
    token_from_record,
)
from jobq.store.postgres.statements import Statements

T = TypeVar("T")

logger: FilteringBoundLogger = structlog.get_logger("jobq.store")

#: the NOTIFY channel is ``jobq:<schema>`` (fleets in other schemas are not woken); the payload
#: is the queue whose jobs may be due
LISTEN_CHECK_SECONDS = 15.0  # how often an idle LISTEN connection is checked for life
LISTEN_MAX_BACKOFF = 10.0
LISTEN_APPLICATION = "jobq-listen"


class PostgresStore:
    """A ``Store`` on PostgreSQL. Open it with ``await PostgresStore.open(url)``."""

    def __init__(
        self, url: str, *, clock: Clock | None = None, options: PostgresOptions | None = None
    ) -> None:
        self.url = url
        self.clock = clock
        self.options = options or PostgresOptions()
        self.schema_version = 0
        self._db = Database(url, self.options)
        self._sql = Statements("public")
        #: the server process of the LISTEN connection while one is up (for operators: it is
        #: the row of pg_stat_activity with application_name jobq-listen)
        self.listen_backend_pid: int | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Clock | None = None,
        options: PostgresOptions | None = None,
        migrate: bool = True,
    ) -> PostgresStore:
        """Connect, bring the schema up to date (unless ``migrate`` is False) and open the pool."""
        store = cls(url, clock=clock, options=options)
        status = await (
            run_migrations(url, store.options) if migrate else schema_status(url, store.options)
        )
        if status.current == 0:
            raise StoreError(
                f"schema {status.schema!r} has no jobq tables; run `jobq migrate` first"
            )
        store.schema_version = status.current
        store._sql = Statements(status.schema)
        await store._db.open()
        return store

    def _now(self) -> datetime | None:
        return None if self.clock is None else self.clock.now()

    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Rows of ``sql``, in a transaction of its own."""

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cursor = conn.cursor(row_factory=tuple_row)
            async with conn.pipeline():  # BEGIN, the statement and COMMIT: one round trip
                await cursor.execute(sql, params)
                await conn.execute("COMMIT")
            return await cursor.fetchall()

        return await self._db.run(run)

    async def _notify(self, conn: psycopg.AsyncConnection[Any], queues: set[str]) -> None:
        if queues:
            await conn.execute(
                "SELECT pg_notify(%(channel)s, q) FROM unnest(%(queues)s::text[]) AS q",
                {"channel": self._sql.channel, "queues": sorted(queues)},
            )

    # -- JobStore -------------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[EnqueueResult]:
        """Store ``jobs``: in a transaction of their own, or, given ``connection`` (a psycopg
        ``AsyncConnection``), inside the caller's transaction, committed or rolled back with it."""
        if not jobs:
            return []
        ids = [new_job_id() for _ in jobs]
        keys = [job.idempotency_key for job in jobs]
        payloads = [dumps(job.payload, what="payload") for job in jobs]
        run_ats = [None if job.run_at is None else job.run_at.isoformat() for job in jobs]
        params: dict[str, Any] = {
            "rows": new_job_rows(ids, jobs, payloads, run_ats),
            "now": self._now(),
            "channel": self._sql.channel,
        }

        async def insert(
            conn: psycopg.AsyncConnection[Any], *, commit: bool = False
        ) -> list[EnqueueResult]:
            cursor = conn.cursor(row_factory=tuple_row)
            async with conn.pipeline():  # BEGIN goes with the statement (and COMMIT, if ours)
                await cursor.execute(self._sql.insert, params)
                if commit and not any(keys):  # no key, no conflict to roll the batch back for
                    await conn.execute("COMMIT")
            # (id, run_at, created_at) of each job inserted; the statement also woke the pools
            inserted = {str(row[0]): row for row in await cursor.fetchall()}
            existing: dict[str | None, Job] = {}
            if len(inserted) < len(jobs):  # idempotency keys that name jobs already
                await cursor.execute(self._sql.by_keys, {"keys": keys})
                existing = {
                    job.idempotency_key: job
                    for job in map(job_from_record, await cursor.fetchall())
                }
            results = []
            for new, job_id, payload in zip(jobs, ids, payloads, strict=True):
                row = inserted.get(job_id)
                if row is not None:
                    job = new.stored(
                        job_id,
                        payload=loads(payload),
                        run_at=row[1].astimezone(UTC),
                        created_at=row[2].astimezone(UTC),
                    )
                    results.append(EnqueueResult(job, created=True))
                    continue
                found = existing[new.idempotency_key]
                differs = new.differences(found)
                if differs:  # raising rolls back the whole batch
                    raise IdempotencyConflict(
                        f"idempotency key {new.idempotency_key!r} already names job "
                        f"{found.id}, which differs in {', '.join(differs)}"
                    )
                results.append(EnqueueResult(found, created=False))
            return results

        if connection is None:
            return await self._db.run(functools.partial(insert, commit=True))
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
                return await insert(connection)
        except psycopg.Error as exc:
            raise translate(exc) from exc

    async def claim(
        self, owner: WorkerId, *, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0 or (queues is not None and not queues):
            return []
        params: dict[str, Any] = {
            "owner": owner,
            "now": self._now(),
            "lease": lease_seconds,
            "limit": limit,
        }
        if queues is None:
            sql = self._sql.claim_all
        elif len(queues) == 1:
            sql, params["queue"] = self._sql.claim_one_queue, queues[0]
        else:
            sql, params["queues"] = self._sql.claim_queues, list(queues)
        jobs = [job_from_record(row) for row in await self._fetch(sql, params)]
        # RETURNING gives rows in no promised order; hand them out in claim order.
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        return jobs

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        if not leases:
            return set()
        params = {**_leases(leases), "lease": lease_seconds, "now": self._now()}
        return {JobId(str(row[0])) for row in await self._fetch(self._sql.heartbeat, params)}

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()

        async def run(conn: psycopg.AsyncConnection[Any]) -> set[JobId]:
            cursor = await conn.execute(self._sql.release_many, _leases(leases))
            rows = await cursor.fetchall()
            await self._notify(conn, {row[1] for row in rows})
            return {JobId(str(row[0])) for row in rows}

        return await self._db.run(run)

    async def complete(
        self, lease: Lease, result: JSONValue, *, worker_id: WorkerId, started_at: datetime
    ) -> bool:
        params = {
            **_attempt(lease, worker_id, started_at, Outcome.SUCCEEDED, None),
            "result": dumps(result, what="the handler's result"),
            "now": self._now(),
        }
        return await self._changed(self._sql.complete, params)

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        if not completions:
            return set()
        acks = [
            [
                c.lease.job_id,
                c.lease.worker_id,
                c.lease.attempt,
                c.worker_id,
                c.started_at.isoformat(),
                c.result,
            ]
            for c in completions
        ]
        params = {
            "acks": rows_json(acks),
            "now": self._now(),
        }
        return {JobId(str(row[0])) for row in await self._fetch(self._sql.complete_many, params)}

    async def fail(
        self,
        lease: Lease,
        error: ErrorInfo,
        *,
        worker_id: WorkerId,
        started_at: datetime,
        retry_at: datetime | None,
        dead_reason: DeadReason | None = None,
    ) -> bool:
        dead = retry_at is None
        params = {
            **_attempt(lease, worker_id, started_at, Outcome.FAILED, error),
            "status": target(Event.DIE if dead else Event.FAIL).value,
            "retry_at": retry_at,
            "dead_reason": (dead_reason or DeadReason.ATTEMPTS_EXHAUSTED).value if dead else None,
            "now": self._now(),
        }
        return await self._changed(self._sql.fail, params)

    async def release(self, lease: Lease, *, worker_id: WorkerId, started_at: datetime) -> bool:
        params = {
            **_attempt(lease, worker_id, started_at, Outcome.INTERRUPTED, None),
            "now": self._now(),
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            rows = await (await conn.execute(self._sql.release, params)).fetchall()
            await self._notify(conn, {row[0] for row in rows})
            return bool(rows)

        return await self._db.run(run)

    async def _changed(self, sql: str, params: dict[str, Any]) -> bool:
        async def run(conn: psycopg.AsyncConnection[Any]) -> bool:
            return (await conn.execute(sql, params)).rowcount == 1

        return await self._db.run(run)

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        params = {
            "job_id": uuid.UUID(lease.job_id),
            "owner": lease.worker_id,
            "attempt": lease.attempt,
            "progress": fraction,
            "message": message,
        }
        return await self._changed(self._sql.progress, params)

    async def report_process(self, info: ProcessInfo) -> None:
        params = {
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "workers": info.workers,
            "busy": info.busy,
            "buffered": info.buffered,
            "queues": None if info.queues is None else dumps(list(info.queues), what="queues"),
            "started_at": info.started_at,
            "now": self._now(),
        }

        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(self._sql.report_process, params)
            await conn.execute(self._sql.prune_processes, {"now": params["now"]})

        await self._db.run(run)

    async def forget_process(self, process_id: WorkerId) -> None:
        await self._fetch_none(self._sql.forget_process, {"id": process_id})

    async def _fetch_none(self, sql: str, params: dict[str, Any]) -> None:
        async def run(conn: psycopg.AsyncConnection[Any]) -> None:
            await conn.execute(sql, params)

        await self._db.run(run)

    async def requeue_expired(self) -> list[Expired]:
        error = WORKER_LOST_ERROR
        params = {"error": dumps(error.to_dict(), what="error"), "now": self._now()}

        async def run(conn: psycopg.AsyncConnection[Any]) -> list[Expired]:
            rows = await (await conn.execute(self._sql.requeue_expired, params)).fetchall()
            pending = JobState.PENDING.value
            await self._notify(conn, {row[4] for row in rows if row[3] == pending})
            return [
                Expired(JobId(str(job_id)), WorkerId(owner), attempt, JobState(status), queue, kind)
                for job_id, owner, attempt, status, queue, kind in rows
            ]

        return await self._db.run(run)

    async def ping(self) -> None:
        await self._fetch("SELECT 1", {})

    async def close(self) -> None:
        await self._db.close()

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(queue)`` for every NOTIFY of due jobs, until cancelled. A lost connection
        is made again (with capped backoff), then ``wake(None)``: anything sent meanwhile."""
        channel = self._sql.channel
        log = logger.bind(channel=channel)
        delay = 0.1
        while True:
            try:
                conn = await connect(
                    self.url, self.options, autocommit=True, application_name=LISTEN_APPLICATION
                )
            except StoreError as exc:
                log.warning("listen_failed", error=str(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, LISTEN_MAX_BACKOFF)
                continue
            try:
                await conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                self.listen_backend_pid = conn.info.backend_pid
                log.info("listen_started", backend_pid=self.listen_backend_pid)
                delay = 0.1
                wake(None)
                while True:
                    async for note in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                        wake(note.payload)
                    await conn.execute("SELECT 1")  # quiet for a while: is the server there?
            except psycopg.Error as exc:
                log.warning("listen_lost", error=str(exc).strip(), retry_in=delay)
                await asyncio.sleep(delay)
            except Exception:  # a bug here must not stop the pool: polling still works
                log.exception("listen_lost", retry_in=LISTEN_MAX_BACKOFF)
                await asyncio.sleep(LISTEN_MAX_BACKOFF)
            finally:
                self.listen_backend_pid = None
                await conn.close()

    # -- JobReader ------------------------------------------------------------------------

    async def get(self, job_id: JobId) -> Job | None:
        key = as_uuid(job_id)
        if key is None:
            return None
        rows = await self._fetch(self._sql.get, {"id": key})
        return job_from_record(rows[0]) if rows else None

    async def attempts(self, job_id: JobId) -> list[Attempt]:
        key = as_uuid(job_id)
        if key is None:
            return []
        return [
            attempt_from_record(row[:7])
            for row in await self._fetch(self._sql.attempts_of, {"id": key})
        ]

    async def list_jobs(self, where: JobFilter, *, limit: int, after: JobId | None = None) -> Page:
        conditions: list[str] = []
        params: dict[str, Any] = {"limit": limit + 1}
        for column, value in (
            ("status", None if where.status is None else where.status.value),
            ("type", where.type),
            ("queue", where.queue),
        ):
            if value is not None and "\x00" in value:
                return Page([], None)  # no name holds NUL (and PostgreSQL text cannot)
            if value is not None:
                conditions.append(f"{column} = %({column})s")
                params[column] = value
        if after is not None:
            key = as_uuid(after)
            if key is None:
                raise InvalidJob(f"not a job id: {after!r}")
            conditions.append("id < %(after)s")
            params["after"] = key
        jobs = [
            job_from_record(row)
            for row in await self._fetch(self._sql.list_jobs(conditions), params)
        ]
        if len(jobs) > limit:
            return Page(jobs[:limit], jobs[limit - 1].id)
        return Page(jobs, None)

    async def counts(self) -> list[QueueCount]:
        rows = await self._fetch(self._sql.counts, {})
        return [QueueCount(queue, JobState(status), n) for queue, status, n in rows]

    async def processes(self, *, max_age: float) -> list[ProcessInfo]:
        rows = await self._fetch(self._sql.processes, {"max_age": max_age, "now": self._now()})
        return [process_from_record(row) for row in rows]

    # -- TokenStore ----------------------------------------------------------------------

    async def add_token(self, token: ApiToken) -> None:
        params = {
            "id": token.id,
            "name": token.name,
            "scope": token.scope.value,
            "secret_hash": token.secret_hash,
            "created_at": token.created_at,
        }
        await self._fetch_none(self._sql.add_token, params)

    async def tokens(self) -> list[ApiToken]:
        return [token_from_record(row) for row in await self._fetch(self._sql.tokens, {})]

    async def token(self, token_id: str) -> ApiToken | None:
        rows = await self._fetch(self._sql.token, {"id": token_id})
        return token_from_record(rows[0]) if rows else None

    async def revoke_token(self, token_id: str) -> bool:
        return await self._changed(self._sql.revoke_token, {"id": token_id, "now": self._now()})

    async def has_tokens(self) -> bool:
        [(found,)] = await self._fetch(self._sql.has_tokens, {})
        return bool(found)

    async def throughput(self, *, minutes: int) -> list[MinuteCount]:
        rows = await self._fetch(self._sql.throughput, {"minutes": minutes, "now": self._now()})
        return [
            MinuteCount(minute.astimezone(UTC), Outcome(outcome), n) for minute, outcome, n in rows
        ]

    async def oldest_waiting_age(self) -> float | None:
        [(age,)] = await self._fetch(self._sql.oldest_waiting_age, {"now": self._now()})
        return None if age is None else float(age)

    # -- JobAdmin -------------------------------------------------------------------------

    async def cancel(self, job_id: JobId) -> Job:
        return await self._admin_update(job_id, Event.CANCEL, self._sql.cancel)

    async def retry(self, job_id: JobId) -> Job:
        return await self._admin_update(job_id, Event.RETRY, self._sql.retry)

    async def _admin_update(self, job_id: JobId, event: Event, sql: str) -> Job:
        key = as_uuid(job_id)
        if key is None:
            raise JobNotFound(f"no job has the id {job_id}")
        params = {"id": key, "now": self._now()}

        async def run(conn: psycopg.AsyncConnection[Any]) -> Job:
            cursor = conn.cursor(row_factory=tuple_row)
            row = await (await cursor.execute(sql, params)).fetchone()
            if row is not None:
                job = job_from_record(row)
                if job.status is JobState.PENDING:
                    await self._notify(conn, {job.queue})
                return job
            state = await (await cursor.execute(self._sql.status_of, params)).fetchone()
            if state is None:
                raise JobNotFound(f"no job has the id {job_id}")
            transition(JobState(state[0]), event)  # raises IllegalTransition with the reason
            raise AssertionError("unreachable: the update matched no row, yet the state allows it")

        return await self._db.run(run)


async def run_migrations(url: str, options: PostgresOptions | None = None) -> schema.SchemaStatus:
    """Bring the schema at ``url`` up to date (what ``jobq migrate`` does)."""
    return await _on_own_connection(url, options, schema.migrate, autocommit=False)


async def schema_status(url: str, options: PostgresOptions | None = None) -> schema.SchemaStatus:
    return await _on_own_connection(url, options, schema.status, autocommit=True)


async def _on_own_connection(
    url: str,
    options: PostgresOptions | None,
    work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
    *,
    autocommit: bool,
) -> T:
    """Run ``work`` on a connection of its own (not the pool's), then close it."""
    conn = await connect(url, options or PostgresOptions(), autocommit=autocommit)
    try:
        return await work(conn)
    except psycopg.Error as exc:
        raise translate(exc) from exc
    finally:
        await conn.close()


def _leases(leases: Sequence[Lease]) -> dict[str, Any]:
    return {
        "ids": [uuid.UUID(lease.job_id) for lease in leases],
        "owners": [lease.worker_id for lease in leases],
        "attempts": [lease.attempt for lease in leases],
    }


def _attempt(
    lease: Lease,
    slot: WorkerId,
    started_at: datetime,
    outcome: Outcome,
    error: ErrorInfo | None,
) -> dict[str, Any]:
    """The fence (the lease's job, owner and attempt) and the attempt's record."""
    return {
        "job_id": uuid.UUID(lease.job_id),
        "owner": lease.worker_id,
        "attempt": lease.attempt,
        "slot": slot,
        "started_at": started_at,
        "outcome": outcome.value,
        "error": None if error is None else dumps(error.to_dict(), what="error"),
    }
