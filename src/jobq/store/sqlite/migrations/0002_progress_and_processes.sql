-- jobq schema 2: progress reported by handlers, the processes running pools, and the indexes
-- /stats reads (throughput per minute, the oldest waiting job).

ALTER TABLE jobs ADD COLUMN progress REAL;          -- 0..1 for the attempt running now, or last
ALTER TABLE jobs ADD COLUMN progress_message TEXT;

-- The oldest due job: the earliest run_at among waiting jobs.
CREATE INDEX jobs_waiting_since ON jobs (run_at) WHERE status IN ('failed', 'pending');
-- Attempts per minute over the last hour.
CREATE INDEX attempts_finished ON attempts (finished_at);

-- One row per worker pool, refreshed every few seconds while it runs, removed when it stops.
CREATE TABLE processes (
    id         TEXT PRIMARY KEY,       -- the pool's owner id: host:pid:random
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    workers    INTEGER NOT NULL,
    busy       INTEGER NOT NULL,
    buffered   INTEGER NOT NULL,
    queues     TEXT,                   -- JSON array; NULL: every queue
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
) STRICT;
