-- jobq schema 1. Times are integer microseconds since the Unix epoch (UTC); JSON is stored as text.

CREATE TABLE jobs (
    id               TEXT PRIMARY KEY,          -- UUIDv7: sorts by creation time
    queue            TEXT NOT NULL,
    type             TEXT NOT NULL,
    payload          TEXT NOT NULL,             -- JSON object
    status           TEXT NOT NULL,
    priority         INTEGER NOT NULL,          -- higher runs first
    run_at           INTEGER NOT NULL,          -- due from this time on
    attempt          INTEGER NOT NULL DEFAULT 0,-- rises at claim: a job that kills its worker uses it up
    max_attempts     INTEGER NOT NULL,
    timeout          REAL,                      -- seconds; NULL: the handler's default
    backoff          TEXT,                      -- JSON {base_seconds, max_seconds, jitter}; NULL: default
    result           TEXT,                      -- JSON
    last_error       TEXT,                      -- JSON {type, message, traceback}
    dead_reason      TEXT,
    worker_id        TEXT,                      -- lease owner (a pool) while running; last owner after
    lease_expires_at INTEGER,
    idempotency_key  TEXT UNIQUE,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
) STRICT;

-- The claim reads this index in order and stops after LIMIT rows. The WHERE must match the
-- claim's condition to the letter, or SQLite will not use the partial index.
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
    seq         INTEGER PRIMARY KEY,
    job_id      TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    worker_id   TEXT,
    started_at  INTEGER,
    finished_at INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    error       TEXT                             -- JSON {type, message, traceback}
) STRICT;
CREATE INDEX attempts_job ON attempts (job_id, seq);
