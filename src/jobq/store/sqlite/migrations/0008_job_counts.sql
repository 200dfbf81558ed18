-- jobq schema 8: the jobs' counts by queue and state, kept as jobs come, change state and go,
-- so that /stats, the dashboard and /metrics read a few rows instead of counting the jobs
-- table (which retention keeps at a retention's worth of jobs: millions, on a busy queue).
-- Additive: processes of schema 7 keep running against it (the triggers count their changes).

CREATE TABLE job_counts (
    queue  TEXT NOT NULL,
    status TEXT NOT NULL,
    n      INTEGER NOT NULL,
    PRIMARY KEY (queue, status)
) STRICT, WITHOUT ROWID;

CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs
BEGIN
    INSERT INTO job_counts (queue, status, n) VALUES (NEW.queue, NEW.status, 1)
    ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_update AFTER UPDATE OF status ON jobs
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND status = OLD.status;
    INSERT INTO job_counts (queue, status, n) VALUES (NEW.queue, NEW.status, 1)
    ON CONFLICT (queue, status) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE queue = OLD.queue AND status = OLD.status;
END;

INSERT INTO job_counts (queue, status, n) SELECT queue, status, count(*) FROM jobs GROUP BY 1, 2;
