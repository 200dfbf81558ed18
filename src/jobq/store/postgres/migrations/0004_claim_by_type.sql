-- jobq schema 4: routing by job type. A pool claims only the job types it has handlers for,
-- one type at a time through this index (a type it cannot run costs its claim nothing, however
-- many jobs of it wait), and reports those types with its presence. Additive: processes of
-- schema 3 keep running against it.

CREATE INDEX jobs_type_due ON jobs (type, priority DESC, run_at, id)
    WHERE status IN ('failed', 'pending');

ALTER TABLE processes ADD COLUMN types json;  -- NULL: not reported (schema 3 jobq)
