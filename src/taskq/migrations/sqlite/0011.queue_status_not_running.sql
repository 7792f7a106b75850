-- depends: 0010.concurrency_keys
-- GET /queues counts tasks by queue and status. tasks_queue_status (0003) held every task,
-- so every start and every completion moved an entry of it: in a drain, a third more pages
-- written per task. This one leaves running tasks out: a start only removes an entry, a
-- completion only adds one. Running tasks are counted through tasks_status_seq, a row
-- each, as many as workers run (statements.sql, queue_counts).
DROP INDEX tasks_queue_status;
CREATE INDEX tasks_queue_status_not_running ON tasks (queue, status)
    WHERE status <> 'running';
