-- jobq schema 6: unique jobs. A unique job holds its key (a digest of its type, its key or
-- payload, and its window) in a unique index while its state is one of unique_states; when it
-- leaves them the trigger drops the key, so the next enqueue with the key makes a new job.
-- Additive: processes of schema 5 keep running against it (their jobs hold no key).

ALTER TABLE jobs ADD COLUMN unique_key text, ADD COLUMN unique_states text[];

CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

CREATE FUNCTION jobs_unique_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (NEW.status = ANY (NEW.unique_states)) THEN
        NEW.unique_key := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER jobs_unique_release BEFORE UPDATE OF status ON jobs
FOR EACH ROW WHEN (NEW.unique_key IS NOT NULL) EXECUTE FUNCTION jobs_unique_release();
