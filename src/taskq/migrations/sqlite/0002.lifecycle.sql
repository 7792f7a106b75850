-- depends: 0001.tasks
-- Idempotency keys (one task per key), cancellation requests reaching running tasks,
-- and an index for pruning finished tasks.
ALTER TABLE tasks ADD COLUMN idempotency_key TEXT;
ALTER TABLE tasks ADD COLUMN fingerprint TEXT;
ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX tasks_idempotency_key ON tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_finished ON tasks (processed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX tasks_cancel_requested ON tasks (worker_id) WHERE cancel_requested = 1;
