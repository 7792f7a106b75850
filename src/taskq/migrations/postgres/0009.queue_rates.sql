-- depends: 0008.unique_key
-- Rate limits (flow control, taskq/flow.py): at most rate_limit of a queue's tasks start
-- in any rate_period_s seconds. Each start of a rated queue's task is a
-- taskq_queue_starts row, written by the claim that starts it (in the same statement).
-- NULL: no rate.
ALTER TABLE taskq_queues ADD COLUMN rate_limit INTEGER CHECK (rate_limit >= 1);
ALTER TABLE taskq_queues ADD COLUMN rate_period_s DOUBLE PRECISION CHECK (rate_period_s > 0);
CREATE TABLE taskq_queue_starts (
    queue TEXT             NOT NULL,
    at    DOUBLE PRECISION NOT NULL
);
CREATE INDEX taskq_queue_starts_by_queue ON taskq_queue_starts (queue, at);

-- The room a limited queue has for the claim calling it at claim_at: what its concurrency
-- (less its running tasks) and its rate (less its starts after claim_at - rate_period_s)
-- leave; NULL for neither. Counted once the queue's row is locked (held until the claim
-- commits, so claims of one limited queue take turns; see 0006 for why in a function).
-- Starts after claim_at count too: a claim whose time was taken before another's commit
-- must see it. Starts older than the window and a minute go (a slow claim lags by less).
DROP FUNCTION taskq_queue_room(TEXT);
CREATE FUNCTION taskq_queue_room(queue_name TEXT, claim_at DOUBLE PRECISION) RETURNS INTEGER
LANGUAGE sql VOLATILE AS $$
    SELECT 1 FROM taskq_queues WHERE name = queue_name FOR UPDATE;
    DELETE FROM taskq_queue_starts
    WHERE queue = queue_name AND at <= claim_at - 60 - coalesce(
        (SELECT rate_period_s FROM taskq_queues WHERE name = queue_name), 0);
    SELECT least(
        CASE WHEN concurrency IS NOT NULL THEN concurrency - (
            SELECT count(*)::integer FROM taskq_tasks
            WHERE queue = queue_name AND status = 'running') END,
        CASE WHEN rate_limit IS NOT NULL THEN rate_limit - (
            SELECT count(*)::integer FROM taskq_queue_starts
            WHERE queue = queue_name AND at > claim_at - rate_period_s) END)
    FROM taskq_queues WHERE name = queue_name;
$$;
