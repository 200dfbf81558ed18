-- jobq schema 2: progress reported by handlers, the processes running pools, and the indexes
-- /stats reads (throughput per minute, the oldest waiting job). Additive: jobq 0002-unaware
-- processes keep running against it.

ALTER TABLE jobs ADD COLUMN progress double precision;
ALTER TABLE jobs ADD COLUMN progress_message text;

CREATE INDEX jobs_waiting_since ON jobs (run_at) WHERE status IN ('failed', 'pending');
CREATE INDEX attempts_finished ON attempts (finished_at);

CREATE TABLE processes (
    id         text PRIMARY KEY,
    host       text NOT NULL,
    pid        integer NOT NULL,
    workers    integer NOT NULL,
    busy       integer NOT NULL,
    buffered   integer NOT NULL,
    queues     json,
    started_at timestamptz NOT NULL,
    seen_at    timestamptz NOT NULL
);
