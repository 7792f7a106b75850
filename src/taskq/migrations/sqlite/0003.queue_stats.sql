-- depends: 0002.lifecycle
-- GET /queues counts tasks by queue and status: this index answers it alone, in order,
-- where the table would be read whole and its groups sorted.
CREATE INDEX tasks_queue_status ON tasks (queue, status);
