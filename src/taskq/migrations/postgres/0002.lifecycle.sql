-- depends: 0001.tasks
-- Idempotency keys (one task per key), cancellation requests reaching running tasks,
-- and an index for pruning finished tasks.
ALTER TABLE taskq_tasks
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN fingerprint TEXT,
    ADD COLUMN cancel_requested BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX taskq_tasks_idempotency_key ON taskq_tasks (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX taskq_tasks_finished ON taskq_tasks (processed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
CREATE INDEX taskq_tasks_cancel_requested ON taskq_tasks (worker_id) WHERE cancel_requested;
