-- depends: 0003.queue_stats
-- The workers that announced themselves (GET /workers, GET /schedules): a row per worker,
-- written when it starts, its last_seen moved on each heartbeat, deleted on a clean stop
-- or, once it stopped beating for its lease_s, by any worker's heartbeat. JSON columns hold
-- text: queues (NULL: every queue), schedules (action name -> cron expression).
CREATE TABLE workers (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    queues      TEXT,
    concurrency INTEGER NOT NULL,
    lease_s     REAL    NOT NULL,
    schedules   TEXT    NOT NULL DEFAULT '{}',
    started_at  REAL    NOT NULL,
    last_seen   REAL    NOT NULL
);

-- GET /schedules reads each scheduled action's newest tick task (idempotency key
-- cron:<action>:<tick>) from here: one probe per action, however many tasks it has.
CREATE INDEX tasks_cron_ticks ON tasks (action, seq) WHERE idempotency_key LIKE 'cron:%';
