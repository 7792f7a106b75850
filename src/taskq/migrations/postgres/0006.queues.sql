-- depends: 0005.keys
-- Queue settings (flow control: `taskq queues`, POST /queues/{name}/pause, PATCH
-- /queues/{name}): a row per queue that was ever paused or limited; a queue without a row
-- runs with the defaults (not paused, no limit). The claim statement reads this table:
-- a paused queue's tasks are not claimed, and a queue with a concurrency has at most that
-- many tasks running at once (the claim locks the limited queues' rows FOR UPDATE, which
-- serialises the claims of limited queues only). concurrency NULL: unlimited.
CREATE TABLE taskq_queues (
    name        TEXT             PRIMARY KEY,
    paused      BOOLEAN          NOT NULL DEFAULT FALSE,
    concurrency INTEGER          CHECK (concurrency >= 1),
    updated_at  DOUBLE PRECISION NOT NULL
);

-- The room a limited queue has for the claim calling it: its concurrency less its running
-- tasks, counted once the queue's row is locked (held until the claim commits, so claims
-- of one limited queue take turns). VOLATILE: each statement takes a fresh snapshot, so
-- the count sees the tasks a claim that held the lock just before started; counted in the
-- claim statement itself, it would miss them (its snapshot predates the wait).
CREATE FUNCTION taskq_queue_room(queue_name TEXT) RETURNS INTEGER
LANGUAGE sql VOLATILE AS $$
    SELECT 1 FROM taskq_queues WHERE name = queue_name FOR UPDATE;
    SELECT concurrency - (SELECT count(*)::integer FROM taskq_tasks
                          WHERE queue = queue_name AND status = 'running')
    FROM taskq_queues WHERE name = queue_name;
$$;

-- Statistics for the empty table: never analyzed, the planner would take it for ten pages
-- of rows and plan every claim for hundreds of limited queues (a hash join over the whole
-- tasks table, 5x slower on 20,000 tasks). Once analyzed, it knows the table is empty.
ANALYZE taskq_queues;
