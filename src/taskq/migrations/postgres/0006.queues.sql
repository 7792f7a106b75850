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
