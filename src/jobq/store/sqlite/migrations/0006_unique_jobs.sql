-- jobq schema 6: unique jobs. A unique job holds its key (a digest of its type, its key or
-- payload, and its window) in a unique index while its state is one of unique_states; when it
-- leaves them the trigger drops the key, so the next enqueue with the key makes a new job.
-- Additive: processes of schema 5 keep running against it (their jobs hold no key).

ALTER TABLE jobs ADD COLUMN unique_key TEXT;
ALTER TABLE jobs ADD COLUMN unique_states TEXT;  -- comma-separated states that hold the key

CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

CREATE TRIGGER jobs_unique_release AFTER UPDATE OF status ON jobs
WHEN NEW.unique_key IS NOT NULL
 AND instr(',' || NEW.unique_states || ',', ',' || NEW.status || ',') = 0
BEGIN
    UPDATE jobs SET unique_key = NULL WHERE id = NEW.id;
END;
