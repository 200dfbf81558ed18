"""The SQLite store: the embedded default, one file, no set-up.

Every write is one ``BEGIN IMMEDIATE`` transaction on the writer thread, committed with
``synchronous=FULL`` before the call returns. Reads go through a second connection on a second
thread, so listing jobs never waits behind a write (WAL lets readers and a writer overlap).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jobq.clock import Clock, SystemClock
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
from jobq.domain.states import Event, JobState, sources, sql_in, target, transition
from jobq.domain.tokens import ApiToken
from jobq.store.base import Completion, Expired, JobFilter, Page
from jobq.store.codec import dumps, loads, new_job_rows
from jobq.store.sqlite.connection import ThreadConnection, check_sqlite_version
from jobq.store.sqlite.migrate import migrate
from jobq.store.sqlite.rows import (
    JOB_COLUMNS,
    attempt_from_row,
    from_us,
    job_from_row,
    process_from_row,
    to_us,
    token_from_row,
)
from jobq.store.sqlite.watch import CommitWatcher

RUNNING = JobState.RUNNING.value
CLAIMABLE = sql_in(sources(Event.CLAIM))  # "('failed', 'pending')", as in the partial index

# The statement that guarantees a job is claimed once: the inner SELECT picks due jobs in order
# and the UPDATE marks them in the same statement, under the write lock of BEGIN IMMEDIATE.
# INDEXED BY pins the partial index of due jobs: walked in claim order, it stops after LIMIT
# rows however many jobs wait. Without it the planner may pick the status index and sort every
# due job on each claim. (One queue: its own index. Several or all: the global one, filtering.)
_CLAIM = f"""
UPDATE jobs
SET status = '{RUNNING}', attempt = attempt + 1, worker_id = :owner,
    lease_expires_at = :lease_until, started_at = :now, progress = NULL, progress_message = NULL
WHERE id IN (
    SELECT id FROM jobs INDEXED BY {{index}}
    WHERE status IN {CLAIMABLE} AND run_at <= :now {{queue_filter}}
    ORDER BY priority DESC, run_at, id
    LIMIT :limit
)
RETURNING {JOB_COLUMNS}
"""

# The fence: a write after a claim changes the row only for the lease that owns it.
_FENCE = f"id = :job_id AND worker_id = :worker_id AND attempt = :attempt AND status = '{RUNNING}'"

_COMPLETE = f"""
UPDATE jobs
SET status = '{target(Event.SUCCEED).value}', result = :result, started_at = :started_at,
    finished_at = :now, lease_expires_at = NULL
WHERE {_FENCE}
"""

_FAIL = f"""
UPDATE jobs
SET status = :status, run_at = COALESCE(:retry_at, run_at), last_error = :error,
    dead_reason = :dead_reason, started_at = :started_at, lease_expires_at = NULL,
    finished_at = CASE WHEN :status = '{JobState.DEAD.value}' THEN :now END
WHERE {_FENCE}
"""

_RELEASE_SET = f"""
SET status = '{target(Event.RELEASE).value}', attempt = attempt - 1, worker_id = NULL,
    lease_expires_at = NULL, started_at = NULL"""

_RELEASE = f"UPDATE jobs {_RELEASE_SET} WHERE {_FENCE}"

# The lease triples arrive as one JSON array: one statement however many jobs are handed back.
_LEASES_IN = """(id, worker_id, attempt) IN (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]')
    FROM json_each(:leases)
)"""

_RELEASE_MANY = f"""
UPDATE jobs {_RELEASE_SET}
WHERE status = '{RUNNING}' AND {_LEASES_IN}
RETURNING id
"""

_HEARTBEAT = f"""
UPDATE jobs SET lease_expires_at = :lease_until
WHERE status = '{RUNNING}' AND {_LEASES_IN}
RETURNING id
"""

_INSERT_ATTEMPT = """
INSERT INTO attempts (job_id, attempt, worker_id, started_at, finished_at, outcome, error)
VALUES (:job_id, :attempt, :worker_id, :started_at, :now, :outcome, :error)
"""

# The batch arrives as one JSON array of [id, queue, type, payload, priority, run_at,
# max_attempts, timeout, backoff, idempotency_key] rows; rows are inserted in their order, so a
# key repeated within the batch keeps its first job. ("WHERE true": SQLite's grammar needs it
# between INSERT ... SELECT and ON CONFLICT.)
_INSERT_JOBS = f"""
INSERT INTO jobs (id, queue, type, payload, status, priority, run_at, attempt, max_attempts,
                  timeout, backoff, idempotency_key, created_at)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       json_extract(value, '$[3]'), '{JobState.PENDING.value}', json_extract(value, '$[4]'),
       json_extract(value, '$[5]'), 0, json_extract(value, '$[6]'), json_extract(value, '$[7]'),
       json_extract(value, '$[8]'), json_extract(value, '$[9]'), ?2
FROM json_each(?1) WHERE true ORDER BY key
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""

_PROGRESS = f"UPDATE jobs SET progress = :progress, progress_message = :message WHERE {_FENCE}"

_REPORT_PROCESS = """
INSERT INTO processes (id, host, pid, workers, busy, buffered, queues, started_at, seen_at)
VALUES (:id, :host, :pid, :workers, :busy, :buffered, :queues, :started_at, :now)
ON CONFLICT (id) DO UPDATE SET workers = excluded.workers, busy = excluded.busy,
    buffered = excluded.buffered, queues = excluded.queues, seen_at = excluded.seen_at
"""

#: seconds between two looks for commits by other processes (``listen``)
WATCH_INTERVAL = 0.005

PROCESS_FORGOTTEN_AFTER_US = 3600 * 1_000_000
_MINUTE_US = 60 * 1_000_000
_TOKEN_COLUMNS = "id, name, scope, secret_hash, created_at, revoked_at"


class SQLiteStore:
    """A ``Store`` on one SQLite file. Open it with ``await SQLiteStore.open(path)``."""

    def __init__(
        self,
        path: str,
        *,
        clock: Clock | None = None,
        busy_timeout: float = 10.0,
        synchronous: str = "FULL",
    ) -> None:
        check_sqlite_version()
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self.schema_version = 0
        self._busy_timeout = busy_timeout
        self._writer, self._reader = (
            ThreadConnection(path, name=name, busy_timeout=busy_timeout, synchronous=synchronous)
            for name in ("jobq-sqlite-w", "jobq-sqlite-r")
        )

    @classmethod
    async def open(cls, path: str, **options: Any) -> SQLiteStore:
        """Open (creating if needed) the database at ``path`` and bring its schema up to date."""
        await asyncio.to_thread(_check_directory, path)
        store = cls(path, **options)
        try:
            store.schema_version = await store._writer.write(migrate)
        except BaseException:
            await store.close()
            raise
        return store

    def _now(self) -> int:
        return to_us(self.clock.now())

    # -- JobStore -------------------------------------------------------------------------

    async def enqueue(
        self, jobs: Sequence[NewJob], *, connection: object | None = None
    ) -> list[EnqueueResult]:
        if connection is not None:
            raise InvalidJob(
                "enqueue inside your own transaction (connection=) needs the PostgreSQL store; "
                "on SQLite, jobq's own transaction already makes each enqueue durable"
            )
        now = self._now()
        ids = [new_job_id() for _ in jobs]
        payloads = [dumps(job.payload, what="payload") for job in jobs]
        run_ats = [now if job.run_at is None else to_us(job.run_at) for job in jobs]
        rows = new_job_rows(ids, jobs, payloads, run_ats)  # one INSERT for the batch

        created = from_us(now)

        def insert(conn: sqlite3.Connection) -> list[EnqueueResult]:
            inserted = {row[0] for row in conn.execute(_INSERT_JOBS, (rows, now))}
            results = []
            for new, job_id, payload, run_at in zip(jobs, ids, payloads, run_ats, strict=True):
                if job_id in inserted:
                    job = new.stored(
                        job_id, payload=loads(payload), run_at=from_us(run_at), created_at=created
                    )
                    results.append(EnqueueResult(job, created=True))
                    continue
                # an idempotency key that names a job already (perhaps one earlier in this batch)
                existing = job_from_row(
                    conn.execute(
                        f"SELECT {JOB_COLUMNS} FROM jobs WHERE idempotency_key = ?",
                        (new.idempotency_key,),
                    ).fetchone()
                )
                differs = new.differences(existing)
                if differs:  # raising rolls back the whole batch
                    raise IdempotencyConflict(
                        f"idempotency key {new.idempotency_key!r} already names job "
                        f"{existing.id}, which differs in {', '.join(differs)}"
                    )
                results.append(EnqueueResult(existing, created=False))
            return results

        if not jobs:
            return []
        return await self._writer.write(insert)

    async def claim(
        self, owner: WorkerId, *, queues: Sequence[str] | None, limit: int, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0 or (queues is not None and not queues):
            return []
        moment = self.clock.now()
        params: dict[str, Any] = {
            "owner": owner,
            "now": to_us(moment),
            "lease_until": to_us(moment + timedelta(seconds=lease_seconds)),
            "limit": limit,
        }
        sql = _claim_sql(len(queues) if queues is not None else None)
        if queues is not None:
            params.update({f"q{i}": q for i, q in enumerate(queues)})

        def run(conn: sqlite3.Connection) -> list[Job]:
            return [job_from_row(row) for row in conn.execute(sql, params).fetchall()]

        jobs = await self._writer.write(run)
        # RETURNING gives rows in no promised order; hand them out in claim order.
        jobs.sort(key=lambda job: (-job.priority, job.run_at, job.id))
        return jobs

    async def heartbeat(self, leases: Sequence[Lease], *, lease_seconds: float) -> set[JobId]:
        if not leases:
            return set()
        params = {
            "lease_until": to_us(self.clock.now() + timedelta(seconds=lease_seconds)),
            "leases": _leases_json(leases),
        }

        def run(conn: sqlite3.Connection) -> set[JobId]:
            return {JobId(row[0]) for row in conn.execute(_HEARTBEAT, params)}

        return await self._writer.write(run)

    async def release_unstarted(self, leases: Sequence[Lease]) -> set[JobId]:
        if not leases:
            return set()
        params = {"leases": _leases_json(leases)}

        def run(conn: sqlite3.Connection) -> set[JobId]:
            return {JobId(row[0]) for row in conn.execute(_RELEASE_MANY, params)}

        return await self._writer.write(run)

    async def complete(
        self, lease: Lease, result: JSONValue, *, worker_id: WorkerId, started_at: datetime
    ) -> bool:
        now = self._now()
        params = {
            **_fence(lease),
            "result": dumps(result, what="the handler's result"),
            "started_at": to_us(started_at),
            "now": now,
        }
        attempt = _attempt_row(lease, worker_id, started_at, now, Outcome.SUCCEEDED, None)

        def run(conn: sqlite3.Connection) -> bool:
            if conn.execute(_COMPLETE, params).rowcount != 1:
                return False
            conn.execute(_INSERT_ATTEMPT, attempt)
            return True

        return await self._writer.write(run)

    async def complete_many(self, completions: Sequence[Completion]) -> set[JobId]:
        if not completions:
            return set()
        now = self._now()
        rows = [
            (
                {
                    **_fence(c.lease),
                    "result": c.result,
                    "started_at": to_us(c.started_at),
                    "now": now,
                },
                _attempt_row(c.lease, c.worker_id, c.started_at, now, Outcome.SUCCEEDED, None),
            )
            for c in completions
        ]

        def run(conn: sqlite3.Connection) -> set[JobId]:
            written = set()
            for params, attempt in rows:  # no round trips to save: one statement each is cheap
                if conn.execute(_COMPLETE, params).rowcount == 1:
                    conn.execute(_INSERT_ATTEMPT, attempt)
                    written.add(JobId(params["job_id"]))
            return written

        return await self._writer.write(run)

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
        now = self._now()
        dead = retry_at is None
        status = target(Event.DIE if dead else Event.FAIL)
        params = {
            **_fence(lease),
            "status": status.value,
            "retry_at": None if retry_at is None else to_us(retry_at),
            "error": dumps(error.to_dict(), what="error"),
            "dead_reason": (dead_reason or DeadReason.ATTEMPTS_EXHAUSTED).value if dead else None,
            "started_at": to_us(started_at),
            "now": now,
        }
        attempt = _attempt_row(lease, worker_id, started_at, now, Outcome.FAILED, error)

        def run(conn: sqlite3.Connection) -> bool:
            if conn.execute(_FAIL, params).rowcount != 1:
                return False
            conn.execute(_INSERT_ATTEMPT, attempt)
            return True

        return await self._writer.write(run)

    async def release(self, lease: Lease, *, worker_id: WorkerId, started_at: datetime) -> bool:
        attempt = _attempt_row(lease, worker_id, started_at, self._now(), Outcome.INTERRUPTED, None)

        def run(conn: sqlite3.Connection) -> bool:
            if conn.execute(_RELEASE, _fence(lease)).rowcount != 1:
                return False
            conn.execute(_INSERT_ATTEMPT, attempt)
            return True

        return await self._writer.write(run)

    async def progress(self, lease: Lease, fraction: float, message: str | None) -> bool:
        params = {**_fence(lease), "progress": fraction, "message": message}

        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(_PROGRESS, params).rowcount == 1

        return await self._writer.write(run)

    async def report_process(self, info: ProcessInfo) -> None:
        now = self._now()
        params = {
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "workers": info.workers,
            "busy": info.busy,
            "buffered": info.buffered,
            "queues": None if info.queues is None else dumps(list(info.queues), what="queues"),
            "started_at": to_us(info.started_at),
            "now": now,
        }

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_REPORT_PROCESS, params)
            conn.execute(
                "DELETE FROM processes WHERE seen_at < ?", (now - PROCESS_FORGOTTEN_AFTER_US,)
            )

        await self._writer.write(run)

    async def forget_process(self, process_id: WorkerId) -> None:
        await self._writer.write(
            lambda conn: conn.execute("DELETE FROM processes WHERE id = ?", (process_id,))
        )

    async def requeue_expired(self) -> list[Expired]:
        now = self._now()
        error = WORKER_LOST_ERROR
        error_json = dumps(error.to_dict(), what="error")

        def run(conn: sqlite3.Connection) -> list[Expired]:
            expired = conn.execute(
                f"SELECT id, worker_id, attempt, max_attempts, started_at, queue, type FROM jobs "
                f"WHERE status = '{RUNNING}' AND lease_expires_at < ?",
                (now,),
            ).fetchall()
            found = []
            for job_id, worker_id, attempt, max_attempts, started_at, queue, job_type in expired:
                last = attempt >= max_attempts
                status = target(Event.EXPIRE_DEAD if last else Event.EXPIRE)
                conn.execute(
                    f"""UPDATE jobs SET status = :status, worker_id = NULL,
                           lease_expires_at = NULL, last_error = :error,
                           dead_reason = :dead_reason,
                           finished_at = CASE WHEN :last THEN :now END
                        WHERE {_FENCE}""",
                    {
                        "job_id": job_id,
                        "worker_id": worker_id,
                        "attempt": attempt,
                        "status": status.value,
                        "error": error_json,
                        "last": last,
                        "now": now,
                        "dead_reason": DeadReason.WORKER_LOST.value if last else None,
                    },
                )
                conn.execute(
                    _INSERT_ATTEMPT,
                    {
                        "job_id": job_id,
                        "attempt": attempt,
                        "worker_id": worker_id,
                        "started_at": started_at,
                        "now": now,
                        "outcome": Outcome.LOST.value,
                        "error": error_json,
                    },
                )
                found.append(
                    Expired(JobId(job_id), WorkerId(worker_id), attempt, status, queue, job_type)
                )
            return found

        return await self._writer.write(run)

    async def ping(self) -> None:
        await self._reader.read(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    async def listen(self, wake: Callable[[str | None], None]) -> None:
        """Call ``wake(None)`` soon after any other connection commits to the database (another
        process enqueued, say), until cancelled: a thread watches ``PRAGMA data_version`` every
        ``WATCH_INTERVAL`` seconds (``watch.py``)."""
        loop = asyncio.get_running_loop()

        def changed() -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed as the thread saw it
                loop.call_soon_threadsafe(wake, None)

        watcher = CommitWatcher(
            self.path, interval=WATCH_INTERVAL, busy_timeout=self._busy_timeout, changed=changed
        )
        watcher.start()
        try:
            await asyncio.Event().wait()  # until cancelled
        finally:
            await asyncio.to_thread(watcher.stop)

    # -- JobReader ------------------------------------------------------------------------

    async def get(self, job_id: JobId) -> Job | None:
        def run(conn: sqlite3.Connection) -> Job | None:
            row = conn.execute(f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
            return None if row is None else job_from_row(row)

        return await self._reader.read(run)

    async def attempts(self, job_id: JobId) -> list[Attempt]:
        def run(conn: sqlite3.Connection) -> list[Attempt]:
            # One snapshot for both reads, so an attempt that ends between them is not lost.
            # (The connection rolls back a read transaction an error leaves open.)
            conn.execute("BEGIN")
            rows = conn.execute(
                "SELECT job_id, attempt, worker_id, started_at, finished_at, outcome, error "
                "FROM attempts WHERE job_id = ? ORDER BY seq",
                (job_id,),
            ).fetchall()
            current = conn.execute(
                f"SELECT attempt, worker_id, started_at FROM jobs "
                f"WHERE id = ? AND status = '{RUNNING}'",
                (job_id,),
            ).fetchone()
            conn.execute("COMMIT")
            found = [attempt_from_row(row) for row in rows]
            if current is not None:
                attempt, worker_id, started_at = current
                found.append(
                    Attempt(
                        job_id=job_id,
                        attempt=attempt,
                        worker_id=WorkerId(worker_id),
                        started_at=None if started_at is None else from_us(started_at),
                        finished_at=None,
                        outcome=None,
                        error=None,
                    )
                )
            return found

        return await self._reader.read(run)

    async def list_jobs(self, where: JobFilter, *, limit: int, after: JobId | None = None) -> Page:
        conditions: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("status", None if where.status is None else where.status.value),
            ("type", where.type),
            ("queue", where.queue),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            conditions.append("id < ?")
            params.append(after)
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit + 1)

        def run(conn: sqlite3.Connection) -> Page:
            jobs = [job_from_row(row) for row in conn.execute(sql, params)]
            if len(jobs) > limit:
                return Page(jobs[:limit], jobs[limit - 1].id)
            return Page(jobs, None)

        return await self._reader.read(run)

    async def counts(self) -> list[QueueCount]:
        def run(conn: sqlite3.Connection) -> list[QueueCount]:
            rows = conn.execute(
                "SELECT queue, status, count(*) FROM jobs GROUP BY queue, status ORDER BY 1, 2"
            )
            return [QueueCount(queue, JobState(status), n) for queue, status, n in rows]

        return await self._reader.read(run)

    async def processes(self, *, max_age: float) -> list[ProcessInfo]:
        since = self._now() - round(max_age * 1_000_000)

        def run(conn: sqlite3.Connection) -> list[ProcessInfo]:
            rows = conn.execute(
                "SELECT id, host, pid, workers, busy, buffered, queues, started_at, seen_at "
                "FROM processes WHERE seen_at >= ? ORDER BY host, pid, id",
                (since,),
            )
            return [process_from_row(row) for row in rows]

        return await self._reader.read(run)

    # -- TokenStore ----------------------------------------------------------------------

    async def add_token(self, token: ApiToken) -> None:
        row = (token.id, token.name, token.scope.value, token.secret_hash,
               to_us(token.created_at))  # fmt: skip
        await self._writer.write(
            lambda conn: conn.execute(
                "INSERT INTO api_tokens (id, name, scope, secret_hash, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                row,
            )
        )

    async def tokens(self) -> list[ApiToken]:
        def run(conn: sqlite3.Connection) -> list[ApiToken]:
            rows = conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at DESC")
            return [token_from_row(row) for row in rows]

        return await self._reader.read(run)

    async def token(self, token_id: str) -> ApiToken | None:
        def run(conn: sqlite3.Connection) -> ApiToken | None:
            row = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens WHERE id = ?", (token_id,)
            ).fetchone()
            return None if row is None else token_from_row(row)

        return await self._reader.read(run)

    async def revoke_token(self, token_id: str) -> bool:
        now = self._now()

        def run(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, token_id),
            )
            return cursor.rowcount == 1

        return await self._writer.write(run)

    async def has_tokens(self) -> bool:
        return await self._reader.read(
            lambda conn: conn.execute("SELECT EXISTS (SELECT 1 FROM api_tokens)").fetchone()[0] == 1
        )

    async def throughput(self, *, minutes: int) -> list[MinuteCount]:
        now = self._now()
        since = (now // _MINUTE_US - minutes + 1) * _MINUTE_US

        def run(conn: sqlite3.Connection) -> list[MinuteCount]:
            rows = conn.execute(
                "SELECT finished_at / ? * ?, outcome, count(*) FROM attempts "
                "WHERE finished_at >= ? GROUP BY 1, 2 ORDER BY 1, 2",
                (_MINUTE_US, _MINUTE_US, since),
            )
            return [
                MinuteCount(from_us(minute), Outcome(outcome), n) for minute, outcome, n in rows
            ]

        return await self._reader.read(run)

    async def oldest_waiting_age(self) -> float | None:
        now = self._now()

        def run(conn: sqlite3.Connection) -> float | None:
            [oldest] = conn.execute(
                f"SELECT min(run_at) FROM jobs WHERE status IN {CLAIMABLE} AND run_at <= ?",
                (now,),
            ).fetchone()
            return None if oldest is None else (now - oldest) / 1_000_000

        return await self._reader.read(run)

    # -- JobAdmin -------------------------------------------------------------------------

    async def cancel(self, job_id: JobId) -> Job:
        sql = f"""
            UPDATE jobs SET status = '{target(Event.CANCEL).value}', finished_at = :now,
                            lease_expires_at = NULL
            WHERE id = :id AND status IN {sql_in(sources(Event.CANCEL))}
            RETURNING {JOB_COLUMNS}"""
        return await self._admin_update(job_id, Event.CANCEL, sql)

    async def retry(self, job_id: JobId) -> Job:
        # Give a job that used up its attempts one more; keep its history in `attempts`.
        sql = f"""
            UPDATE jobs SET status = '{target(Event.RETRY).value}', run_at = :now,
                            max_attempts = MAX(max_attempts, attempt + 1), dead_reason = NULL,
                            finished_at = NULL, worker_id = NULL, lease_expires_at = NULL
            WHERE id = :id AND status IN {sql_in(sources(Event.RETRY))}
            RETURNING {JOB_COLUMNS}"""
        return await self._admin_update(job_id, Event.RETRY, sql)

    async def _admin_update(self, job_id: JobId, event: Event, sql: str) -> Job:
        params = {"id": job_id, "now": self._now()}

        def run(conn: sqlite3.Connection) -> Job:
            row = conn.execute(sql, params).fetchone()
            if row is not None:
                return job_from_row(row)
            state = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if state is None:
                raise JobNotFound(f"no job has the id {job_id}")
            transition(JobState(state[0]), event)  # raises IllegalTransition with the reason
            raise AssertionError("unreachable: the update matched no row, yet the state allows it")

        return await self._writer.write(run)


@functools.cache
def _claim_sql(queue_count: int | None) -> str:
    """The claim for all queues (None) or for ``queue_count`` named ones."""
    if queue_count is None:
        return _CLAIM.format(index="jobs_due", queue_filter="")
    names = ", ".join(f":q{i}" for i in range(queue_count))
    index = "jobs_queue_due" if queue_count == 1 else "jobs_due"
    return _CLAIM.format(index=index, queue_filter=f"AND queue IN ({names})")


def _check_directory(path: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise StoreError(f"cannot create the SQLite database {path}: {parent} is not a directory")


def _leases_json(leases: Sequence[Lease]) -> str:
    return dumps(
        [[lease.job_id, lease.worker_id, lease.attempt] for lease in leases], what="leases"
    )


def _fence(lease: Lease) -> dict[str, Any]:
    return {"job_id": lease.job_id, "worker_id": lease.worker_id, "attempt": lease.attempt}


def _attempt_row(
    lease: Lease,
    worker_id: WorkerId,
    started_at: datetime,
    now: int,
    outcome: Outcome,
    error: ErrorInfo | None,
) -> dict[str, Any]:
    return {
        "job_id": lease.job_id,
        "attempt": lease.attempt,
        "worker_id": worker_id,
        "started_at": to_us(started_at),
        "now": now,
        "outcome": outcome.value,
        "error": None if error is None else dumps(error.to_dict(), what="error"),
    }
