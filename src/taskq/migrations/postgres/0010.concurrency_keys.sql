-- depends: 0009.queue_rates
-- Concurrency keys (flow control, taskq/flow.py): at most a queue's key_concurrency (NULL:
-- 1) of its tasks holding one concurrency_key run at once. Claims find the ready keyed
-- tasks in claim order through the first index, a key's own through the second, and count
-- a key's running ones through the third; all hold only tasks that have a key, so a store
-- that uses none pays nothing for them.
ALTER TABLE taskq_tasks ADD COLUMN concurrency_key TEXT;
ALTER TABLE taskq_queues ADD COLUMN key_concurrency INTEGER CHECK (key_concurrency >= 1);
CREATE INDEX taskq_tasks_keyed_ready ON taskq_tasks (priority DESC, run_at, seq)
    WHERE concurrency_key IS NOT NULL AND status = 'queued';
CREATE INDEX taskq_tasks_keyed_by_key ON taskq_tasks (queue, concurrency_key, priority DESC, run_at, seq)
    WHERE concurrency_key IS NOT NULL AND status = 'queued';
CREATE INDEX taskq_tasks_keyed_running ON taskq_tasks (queue, concurrency_key)
    WHERE concurrency_key IS NOT NULL AND status = 'running';

-- The room of one key of a queue for the claim calling it: the queue's key_concurrency
-- less the key's running tasks. A claim that finds the key being decided by another
-- (its lock taken) skips it this time: it never waits, so claims never deadlock on keys.
-- The count is a statement of its own, after the lock, so its snapshot sees what the
-- claim that held the lock before committed.
CREATE FUNCTION taskq_key_room(queue_name TEXT, key TEXT) RETURNS INTEGER
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(queue_name || E'\x1f' || key, 17)) THEN
        RETURN 0;
    END IF;
    RETURN coalesce((SELECT key_concurrency FROM taskq_queues WHERE name = queue_name), 1)
        - (SELECT count(*)::integer FROM taskq_tasks
           WHERE queue = queue_name AND concurrency_key = key AND status = 'running');
END
$$;
