-- depends: 0008.unique_key
-- Rate limits (flow control, taskq/flow.py): at most rate_limit of a queue's tasks start
-- in any rate_period_s seconds. Each start of a rated queue's task is a queue_starts row,
-- written by the claim that starts it; a claim counts the rows after now - rate_period_s
-- in its write transaction (one writer: nothing moves before it commits). Rows older
-- than the window (and a minute) are deleted by the claims. NULL: no rate.
-- (No CHECK on the new columns: SQLite then checks the rows in a query, whose empty answer
-- the migration tool prints. taskq/flow.py checks every rate before it is stored.)
ALTER TABLE queues ADD COLUMN rate_limit INTEGER;
ALTER TABLE queues ADD COLUMN rate_period_s REAL;
CREATE TABLE queue_starts (
    queue TEXT NOT NULL,
    at    REAL NOT NULL
);
CREATE INDEX queue_starts_by_queue ON queue_starts (queue, at);
