-- The task table: one row per task, which is also its state machine.
-- Times are REAL seconds since the epoch; JSON columns hold text.
CREATE TABLE tasks (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT    NOT NULL UNIQUE,
    action           TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    queue            TEXT    NOT NULL DEFAULT 'default',
    priority         INTEGER NOT NULL DEFAULT 0,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    result           TEXT,
    error            TEXT,
    errors           TEXT    NOT NULL DEFAULT '[]',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER,
    timeout_s        REAL,
    run_at           REAL    NOT NULL,
    created_at       REAL    NOT NULL,
    started_at       REAL,
    processed_at     REAL,
    -- the worker holding the task (claimed or running) and until when its lease runs
    worker_id        TEXT,
    lease_expires_at REAL
);

-- what claim reads: ready, unowned tasks in claim order (priority, then FIFO), for any
-- queue and for one queue; both are partial, so they hold only the waiting tasks
CREATE INDEX tasks_ready ON tasks (priority DESC, run_at, seq)
    WHERE status = 'queued' AND worker_id IS NULL;
CREATE INDEX tasks_ready_by_queue ON tasks (queue, priority DESC, run_at, seq)
    WHERE status = 'queued' AND worker_id IS NULL;
-- what recover and heartbeats read
CREATE INDEX tasks_owned ON tasks (worker_id, lease_expires_at) WHERE worker_id IS NOT NULL;
-- GET /tasks?status=… newest first
CREATE INDEX tasks_status_seq ON tasks (status, seq);
CREATE INDEX tasks_action_seq ON tasks (action, seq);
