-- jobq schema 8: the jobs' counts by queue and state, kept as jobs come, change state and go,
-- so that /stats, the dashboard and /metrics read a few rows instead of counting the jobs
-- table (which retention keeps at a retention's worth of jobs: millions, on a busy queue).
-- Additive: processes of schema 7 keep running against it (the triggers count their changes).
--
-- Each statement that changes jobs adds its changes, summed by queue and state, to the rows of
-- its server process's shard (its pid modulo 64), in (queue, state) order. A server process runs
-- one transaction at a time, so two statements wait for each other's counts only when their
-- processes share a shard; the counts are the sum of the shards.

CREATE TABLE job_counts (
    queue  text NOT NULL,
    status text NOT NULL,
    shard  smallint NOT NULL,
    n      bigint NOT NULL,
    PRIMARY KEY (queue, status, shard)
);

-- The functions name no schema: they run with the search_path of this migration, the jobs
-- table's schema, whatever the search_path of the statement that fires them.
CREATE FUNCTION jobs_count_inserted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts AS c (queue, status, shard, n)
    SELECT queue, status, pg_backend_pid() % 64, count(*) FROM added
    GROUP BY queue, status ORDER BY queue, status
    ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_count_updated() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts AS c (queue, status, shard, n)
    SELECT queue, status, pg_backend_pid() % 64, sum(n) FROM (
        SELECT queue, status, -1 AS n FROM before_rows
        UNION ALL
        SELECT queue, status, 1 AS n FROM after_rows
    ) AS changes
    GROUP BY queue, status HAVING sum(n) <> 0 ORDER BY queue, status
    ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobs_count_deleted() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    INSERT INTO job_counts AS c (queue, status, shard, n)
    SELECT queue, status, pg_backend_pid() % 64, -count(*) FROM removed
    GROUP BY queue, status ORDER BY queue, status
    ON CONFLICT (queue, status, shard) DO UPDATE SET n = c.n + EXCLUDED.n;
    RETURN NULL;
END
$$;

-- The triggers first: they lock jobs against writes until this migration commits, so the count
-- below sees every job, and every change after it is counted by them.
CREATE TRIGGER jobs_count_inserted AFTER INSERT ON jobs REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_inserted();
CREATE TRIGGER jobs_count_updated AFTER UPDATE ON jobs
REFERENCING OLD TABLE AS before_rows NEW TABLE AS after_rows
FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_updated();
CREATE TRIGGER jobs_count_deleted AFTER DELETE ON jobs REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION jobs_count_deleted();

INSERT INTO job_counts (queue, status, shard, n)
SELECT queue, status, 0, count(*) FROM jobs GROUP BY queue, status;
