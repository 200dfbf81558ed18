-- jobq schema 1 on PostgreSQL. JSON columns are `json`, not `jsonb`: they keep the text a client
-- sent (key order, numbers, \u0000) exactly as SQLite does. Tables live in the schema that was
-- current when jobq migrated (set it with `options=-csearch_path=...` in the URL).

CREATE TABLE jobs (
    id               uuid PRIMARY KEY,           -- UUIDv7: sorts by creation time
    queue            text NOT NULL,
    type             text NOT NULL,
    payload          json NOT NULL,
    status           text NOT NULL,
    priority         smallint NOT NULL,          -- higher runs first
    run_at           timestamptz NOT NULL,       -- due from this time on
    attempt          integer NOT NULL DEFAULT 0, -- rises at claim
    max_attempts     integer NOT NULL,
    timeout          double precision,           -- seconds; NULL: the handler's default
    backoff          json,
    result           json,
    last_error       json,                       -- {type, message, traceback}
    dead_reason      text,
    worker_id        text,                       -- lease owner while running; last owner after
    lease_expires_at timestamptz,
    idempotency_key  text UNIQUE,
    created_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz
);

-- The claim walks this index in order and stops after LIMIT rows (SKIP LOCKED passes rows other
-- claimers hold). Its WHERE must be implied by the claim's, or the planner cannot use it.
CREATE INDEX jobs_due ON jobs (priority DESC, run_at, id) WHERE status IN ('failed', 'pending');
CREATE INDEX jobs_queue_due ON jobs (queue, priority DESC, run_at, id)
    WHERE status IN ('failed', 'pending');
-- The reaper looks only at running jobs, by lease expiry.
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE status = 'running';
-- Listing: newest first within a filter.
CREATE INDEX jobs_status_id ON jobs (status, id);
CREATE INDEX jobs_type_id ON jobs (type, id);
CREATE INDEX jobs_queue_id ON jobs (queue, id);

-- One row per finished attempt; the attempt running now is read from the jobs row.
CREATE TABLE attempts (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     integer NOT NULL,
    worker_id   text,
    started_at  timestamptz,
    finished_at timestamptz NOT NULL,
    outcome     text NOT NULL,
    error       json
);
CREATE INDEX attempts_job ON attempts (job_id, seq);
