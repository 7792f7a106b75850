-- depends: 0010.concurrency_keys
-- GET /queues counts tasks by queue and status. taskq_tasks_queue_status (0003) held every
-- task, so every start and every completion added an entry to it. This one leaves running
-- tasks out: a start adds none. Running tasks are counted through taskq_tasks_status_seq,
-- a row each, as many as workers run (statements.sql, queue_counts).
DROP INDEX taskq_tasks_queue_status;
CREATE INDEX taskq_tasks_queue_status_not_running ON taskq_tasks (queue, status)
    WHERE status <> 'running';
