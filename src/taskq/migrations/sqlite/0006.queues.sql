-- depends: 0005.keys
-- Queue settings (flow control: `taskq queues`, POST /queues/{name}/pause, PATCH
-- /queues/{name}): a row per queue that was ever paused or limited; a queue without a row
-- runs with the defaults (not paused, no limit). The claim statement reads this table:
-- a paused queue's tasks are not claimed, and a queue with a concurrency has at most that
-- many tasks running at once. concurrency NULL: unlimited. paused is 0 or 1.
CREATE TABLE queues (
    name        TEXT    PRIMARY KEY,
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    concurrency INTEGER CHECK (concurrency >= 1),
    updated_at  REAL    NOT NULL
);
