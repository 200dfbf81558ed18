-- jobq schema 9: paused queues. A claim takes no job of a queue listed here while its pause
-- holds (until is NULL or later than the claim's time); enqueues into it go on. Additive:
-- processes of schema 8 keep running against it, but their claims do not see the pauses.
CREATE TABLE queue_pauses (
    queue     TEXT PRIMARY KEY,
    paused_at INTEGER NOT NULL,
    until     INTEGER         -- NULL: until resumed
) STRICT;

-- A claim by type that must pass over a paused queue takes an arm per (type, queue) pair on
-- this index, so that the paused queue's backlog is never walked (store/claim.py).
CREATE INDEX jobs_type_queue_due ON jobs (type, queue, priority DESC, run_at, id)
    WHERE status IN ('failed', 'pending');
