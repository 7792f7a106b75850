-- depends: 0002.lifecycle
-- GET /queues counts tasks by queue and status: this index answers it (an index-only
-- scan where the visibility map allows), where the table would be read whole.
CREATE INDEX taskq_tasks_queue_status ON taskq_tasks (queue, status);
