"""Every statement the PostgreSQL store runs, built once per schema from the state machine
(``domain/states.py``), so the SQL and the rules it enforces cannot drift apart."""

from __future__ import annotations

import hashlib

from jobq.domain.job import DeadReason, Outcome
from jobq.domain.states import Event, JobState, sources, sql_in, target
from jobq.store.postgres.rows import columns

RUNNING = JobState.RUNNING.value
CLAIMABLE = sql_in(sources(Event.CLAIM))  # "('failed', 'pending')", as in the partial index
# The injected clock's time, or the server's when the store has no clock.
NOW = "COALESCE(%(now)s::timestamptz, now())"
FENCE = (
    f"id = %(job_id)s AND worker_id = %(owner)s AND attempt = %(attempt)s AND status = '{RUNNING}'"
)
# The lease triples arrive as three arrays: one statement however many jobs there are.
LEASES = (
    "(id, worker_id, attempt) IN "
    "(SELECT * FROM unnest(%(ids)s::uuid[], %(owners)s::text[], %(attempts)s::int[]))"
)


class Statements:
    """Every statement, its tables qualified with the schema jobq migrated, so they mean the
    same on a caller's own connection (transactional enqueue) whatever its search_path."""

    def __init__(self, schema_name: str) -> None:
        quoted = '"' + schema_name.replace('"', '""') + '"'
        self.channel = channel_of(schema_name)
        jobs, attempts = f"{quoted}.jobs", f"{quoted}.attempts"
        self.jobs, self.attempts = jobs, attempts
        cols = columns(jobs)
        # The one statement that guarantees a job is claimed once: the CTE locks due rows in
        # claim order, skipping rows another claimer holds, and the UPDATE marks them.
        claim = f"""
            WITH picked AS (
                SELECT id FROM {jobs}
                WHERE status IN {CLAIMABLE} AND run_at <= {NOW} {{queue_filter}}
                ORDER BY priority DESC, run_at, id
                LIMIT %(limit)s
                FOR UPDATE SKIP LOCKED
            )
            UPDATE {jobs}
            SET status = '{RUNNING}', attempt = {jobs}.attempt + 1, worker_id = %(owner)s,
                lease_expires_at = {NOW} + %(lease)s::float8 * interval '1 second',
                started_at = {NOW}, progress = NULL, progress_message = NULL
            FROM picked WHERE {jobs}.id = picked.id
            RETURNING {cols}"""
        self.claim_all = claim.format(queue_filter="")
        self.claim_one_queue = claim.format(queue_filter="AND queue = %(queue)s")
        self.claim_queues = claim.format(queue_filter="AND queue = ANY(%(queues)s::text[])")

        record_attempt = f"""
            INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at, outcome,
                                    error)
            SELECT id, %(attempt)s, %(slot)s, %(started_at)s, {NOW}, %(outcome)s,
                   %(error)s::json
            FROM changed"""
        # Each outcome is one statement: the fenced update, and the attempt's record only if
        # the update matched. The INSERT's row count says whether the lease still held.
        self.complete = f"""
            WITH changed AS (
                UPDATE {jobs}
                SET status = '{target(Event.SUCCEED).value}', result = %(result)s::json,
                    started_at = %(started_at)s, finished_at = {NOW}, lease_expires_at = NULL
                WHERE {FENCE}
                RETURNING id
            ) {record_attempt}"""
        # Many successes in one statement: the fence is the join with the acknowledged leases,
        # which arrive as one JSON array of [id, owner, attempt, slot, started_at, result].
        # Rows are locked in id order first, as by every statement that changes several jobs
        # (heartbeat, release_many): two of them running at once then cannot deadlock.
        self.complete_many = f"""
            WITH acks AS (
                SELECT (a.v->>0)::uuid AS id, a.v->>1 AS owner, (a.v->>2)::int AS attempt,
                       a.v->>3 AS slot, (a.v->>4)::timestamptz AS started_at,
                       (a.v->>5)::json AS result
                FROM jsonb_array_elements(%(acks)s::jsonb) AS a(v)
            ), locked AS (
                SELECT j.id FROM {jobs} AS j JOIN acks
                    ON j.id = acks.id AND j.worker_id = acks.owner AND j.attempt = acks.attempt
                WHERE j.status = '{RUNNING}'
                ORDER BY j.id FOR UPDATE OF j
            ), changed AS (
                UPDATE {jobs}
                SET status = '{target(Event.SUCCEED).value}', result = acks.result,
                    started_at = acks.started_at, finished_at = {NOW}, lease_expires_at = NULL
                FROM acks JOIN locked ON locked.id = acks.id
                WHERE {jobs}.id = locked.id
                RETURNING {jobs}.id, acks.attempt, acks.slot, acks.started_at
            ), recorded AS (
                INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at,
                                        outcome, error)
                SELECT id, attempt, slot, started_at, {NOW}, '{Outcome.SUCCEEDED.value}', NULL
                FROM changed
            )
            SELECT id FROM changed"""
        self.fail = f"""
            WITH changed AS (
                UPDATE {jobs}
                SET status = %(status)s::text, run_at = COALESCE(%(retry_at)s::timestamptz, run_at),
                    last_error = %(error)s::json, dead_reason = %(dead_reason)s::text,
                    started_at = %(started_at)s, lease_expires_at = NULL,
                    finished_at = CASE WHEN %(status)s::text = '{JobState.DEAD.value}'
                                       THEN {NOW} END
                WHERE {FENCE}
                RETURNING id
            ) {record_attempt}"""
        release_set = f"""
            SET status = '{target(Event.RELEASE).value}', attempt = attempt - 1,
                worker_id = NULL, lease_expires_at = NULL, started_at = NULL"""
        self.release = f"""
            WITH changed AS (
                UPDATE {jobs} {release_set} WHERE {FENCE} RETURNING id, queue
            ), recorded AS ({record_attempt} RETURNING 1)
            SELECT queue FROM changed"""
        locked = f"""locked AS (
                SELECT id FROM {jobs} WHERE status = '{RUNNING}' AND {LEASES}
                ORDER BY id FOR UPDATE
            )"""
        self.release_many = f"""
            WITH {locked}
            UPDATE {jobs} {release_set}
            FROM locked WHERE {jobs}.id = locked.id
            RETURNING {jobs}.id, {jobs}.queue"""
        self.heartbeat = f"""
            WITH {locked}
            UPDATE {jobs} SET lease_expires_at = {NOW} + %(lease)s::float8 * interval '1 second'
            FROM locked WHERE {jobs}.id = locked.id
            RETURNING {jobs}.id"""
        last = "expired.attempt >= expired.max_attempts"
        self.requeue_expired = f"""
            WITH expired AS (
                SELECT id, worker_id, attempt, max_attempts, started_at FROM {jobs}
                WHERE status = '{RUNNING}' AND lease_expires_at < {NOW}
                FOR UPDATE SKIP LOCKED
            ), moved AS (
                UPDATE {jobs}
                SET status = CASE WHEN {last} THEN '{target(Event.EXPIRE_DEAD).value}'
                                  ELSE '{target(Event.EXPIRE).value}' END,
                    worker_id = NULL, lease_expires_at = NULL, last_error = %(error)s::json,
                    dead_reason = CASE WHEN {last} THEN '{DeadReason.WORKER_LOST.value}' END,
                    finished_at = CASE WHEN {last} THEN {NOW} END
                FROM expired WHERE {jobs}.id = expired.id
                RETURNING {jobs}.id, expired.worker_id, expired.attempt, {jobs}.status,
                          {jobs}.queue, {jobs}.type, expired.started_at
            ), recorded AS (
                INSERT INTO {attempts} (job_id, attempt, worker_id, started_at, finished_at,
                                        outcome, error)
                SELECT id, attempt, worker_id, started_at, {NOW}, '{Outcome.LOST.value}',
                       %(error)s::json
                FROM moved
            )
            SELECT id, worker_id, attempt, status, queue, type FROM moved"""
        # The insert wakes listening pools in the same statement (one round trip less): the
        # NOTIFY of each queue with a job due now is sent when the transaction commits.
        self.insert = f"""
            WITH new AS (
                INSERT INTO {jobs} (id, queue, type, payload, status, priority, run_at, attempt,
                                    max_attempts, timeout, backoff, idempotency_key, created_at)
                SELECT (given.v->>0)::uuid, given.v->>1, given.v->>2, (given.v->>3)::json,
                       '{JobState.PENDING.value}', (given.v->>4)::smallint,
                       COALESCE((given.v->>5)::timestamptz, {NOW}), 0, (given.v->>6)::int,
                       (given.v->>7)::float8, (given.v->>8)::json, given.v->>9, {NOW}
                FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS given (v, position)
                ORDER BY given.position
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING id, queue, run_at, created_at, run_at <= {NOW} AS due
            ), woken AS (
                SELECT count(pg_notify(%(channel)s, queue)) AS queues
                FROM (SELECT DISTINCT queue FROM new WHERE due) AS due_queues
            )
            SELECT new.id, new.run_at, new.created_at FROM new, woken"""
        self.by_keys = f"SELECT {cols} FROM {jobs} WHERE idempotency_key = ANY(%(keys)s::text[])"
        self.get = f"SELECT {cols} FROM {jobs} WHERE id = %(id)s"
        # One statement, one snapshot: an attempt that ends meanwhile is in one half or the other.
        self.attempts_of = f"""
            SELECT job_id, attempt, worker_id, started_at, finished_at, outcome, error, seq
            FROM {attempts} WHERE job_id = %(id)s
            UNION ALL
            SELECT id, attempt, worker_id, started_at, NULL, NULL, NULL, NULL
            FROM {jobs} WHERE id = %(id)s AND status = '{RUNNING}'
            ORDER BY seq NULLS LAST"""
        self.counts = (
            f"SELECT queue, status, count(*) FROM {jobs} GROUP BY queue, status ORDER BY 1, 2"
        )
        self.cancel = f"""
            UPDATE {jobs} SET status = '{target(Event.CANCEL).value}', finished_at = {NOW},
                              lease_expires_at = NULL
            WHERE id = %(id)s AND status IN {sql_in(sources(Event.CANCEL))}
            RETURNING {cols}"""
        # Give a job that used up its attempts one more; keep its history in `attempts`.
        self.retry = f"""
            UPDATE {jobs} SET status = '{target(Event.RETRY).value}', run_at = {NOW},
                              max_attempts = GREATEST(max_attempts, attempt + 1),
                              dead_reason = NULL, finished_at = NULL, worker_id = NULL,
                              lease_expires_at = NULL
            WHERE id = %(id)s AND status IN {sql_in(sources(Event.RETRY))}
            RETURNING {cols}"""
        self.status_of = f"SELECT status FROM {jobs} WHERE id = %(id)s"
        self.progress = f"""
            UPDATE {jobs} SET progress = %(progress)s, progress_message = %(message)s
            WHERE {FENCE}"""
        processes = f"{quoted}.processes"
        self.report_process = f"""
            INSERT INTO {processes} (id, host, pid, workers, busy, buffered, queues, started_at,
                                     seen_at)
            VALUES (%(id)s, %(host)s, %(pid)s, %(workers)s, %(busy)s, %(buffered)s,
                    %(queues)s::json, %(started_at)s, {NOW})
            ON CONFLICT (id) DO UPDATE SET workers = excluded.workers, busy = excluded.busy,
                buffered = excluded.buffered, queues = excluded.queues, seen_at = excluded.seen_at
        """
        self.prune_processes = f"DELETE FROM {processes} WHERE seen_at < {NOW} - interval '1 hour'"
        self.forget_process = f"DELETE FROM {processes} WHERE id = %(id)s"
        self.processes = f"""
            SELECT id, host, pid, workers, busy, buffered, queues, started_at, seen_at
            FROM {processes}
            WHERE seen_at >= {NOW} - %(max_age)s::float8 * interval '1 second'
            ORDER BY host, pid, id"""
        self.throughput = f"""
            SELECT date_trunc('minute', finished_at), outcome, count(*) FROM {attempts}
            WHERE finished_at >= date_trunc('minute', {NOW})
                                 - (%(minutes)s::int - 1) * interval '1 minute'
            GROUP BY 1, 2 ORDER BY 1, 2"""
        tokens = f"{quoted}.api_tokens"
        token_columns = "id, name, scope, secret_hash, created_at, revoked_at"
        self.add_token = f"""
            INSERT INTO {tokens} (id, name, scope, secret_hash, created_at)
            VALUES (%(id)s, %(name)s, %(scope)s, %(secret_hash)s, %(created_at)s)"""
        self.tokens = f"SELECT {token_columns} FROM {tokens} ORDER BY created_at DESC"
        self.token = f"SELECT {token_columns} FROM {tokens} WHERE id = %(id)s"
        self.revoke_token = f"""
            UPDATE {tokens} SET revoked_at = {NOW} WHERE id = %(id)s AND revoked_at IS NULL"""
        self.has_tokens = f"SELECT EXISTS (SELECT 1 FROM {tokens})"
        self.oldest_waiting_age = f"""
            SELECT extract(epoch FROM {NOW} - min(run_at))::float8 FROM {jobs}
            WHERE status IN {CLAIMABLE} AND run_at <= {NOW}"""

    def list_jobs(self, conditions: list[str]) -> str:
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return (
            f"SELECT {columns(self.jobs)} FROM {self.jobs}{where} ORDER BY id DESC LIMIT %(limit)s"
        )


def channel_of(schema_name: str) -> str:
    """The NOTIFY channel of the jobq tables in ``schema_name`` (at most 63 bytes, PostgreSQL's
    limit for a name)."""
    channel = f"jobq:{schema_name}"
    if len(channel.encode()) <= 63:
        return channel
    return f"jobq:{hashlib.sha256(schema_name.encode()).hexdigest()[:32]}"
