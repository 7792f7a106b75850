-- The task table: one row per task, which is also its state machine.
-- Times are double precision seconds since the epoch, as on SQLite, so drivers share one model.
CREATE TABLE taskq_tasks (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               UUID    NOT NULL UNIQUE,
    action           TEXT    NOT NULL,
    payload          JSONB   NOT NULL,
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    result           JSONB,
    error            TEXT,
    errors           JSONB   NOT NULL DEFAULT '[]',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER,
    timeout_s        DOUBLE PRECISION,
    run_at           DOUBLE PRECISION NOT NULL,
    created_at       DOUBLE PRECISION NOT NULL,
    started_at       DOUBLE PRECISION,
    processed_at     DOUBLE PRECISION,
    worker_id        TEXT,
    lease_expires_at DOUBLE PRECISION
);

-- claim order (priority, then FIFO) for any queue and for one queue; partial, so they
-- hold only the waiting tasks
CREATE INDEX taskq_tasks_ready ON taskq_tasks (priority DESC, run_at, seq)
    WHERE status = 'queued' AND worker_id IS NULL;
CREATE INDEX taskq_tasks_ready_by_queue ON taskq_tasks (queue, priority DESC, run_at, seq)
    WHERE status = 'queued' AND worker_id IS NULL;
CREATE INDEX taskq_tasks_owned ON taskq_tasks (worker_id, lease_expires_at)
    WHERE worker_id IS NOT NULL;
CREATE INDEX taskq_tasks_status_seq ON taskq_tasks (status, seq);
CREATE INDEX taskq_tasks_action_seq ON taskq_tasks (action, seq);
