-- depends: 0009.queue_rates
-- Concurrency keys (flow control, taskq/flow.py): at most a queue's key_concurrency (NULL:
-- 1) of its tasks holding one concurrency_key run at once. Claims find the ready keyed
-- tasks through the first index and count a key's running ones through the second; both
-- hold only tasks that have a key, so a store that uses none pays nothing for them.
ALTER TABLE tasks ADD COLUMN concurrency_key TEXT;
ALTER TABLE queues ADD COLUMN key_concurrency INTEGER;
CREATE INDEX tasks_keyed_ready ON tasks (priority DESC, run_at, seq)
    WHERE concurrency_key IS NOT NULL AND status = 'queued';
CREATE INDEX tasks_keyed_running ON tasks (queue, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND status = 'running';
