-- depends: 0003.queue_stats
-- The workers that announced themselves (GET /workers, GET /schedules): a row per worker,
-- written when it starts, its last_seen moved on each heartbeat, deleted on a clean stop
-- or, once it stopped beating for its lease_s, by any worker's heartbeat. queues is NULL
-- for every queue; schedules maps action name -> cron expression.
CREATE TABLE taskq_workers (
    id          TEXT             PRIMARY KEY,
    host        TEXT             NOT NULL,
    pid         INTEGER          NOT NULL,
    queues      JSONB,
    concurrency INTEGER          NOT NULL,
    lease_s     DOUBLE PRECISION NOT NULL,
    schedules   JSONB            NOT NULL DEFAULT '{}',
    started_at  DOUBLE PRECISION NOT NULL,
    last_seen   DOUBLE PRECISION NOT NULL
);

-- GET /schedules reads each scheduled action's newest tick task (idempotency key
-- cron:<action>:<tick>) from here: one probe per action, however many tasks it has.
CREATE INDEX taskq_tasks_cron_ticks ON taskq_tasks (action, seq)
    WHERE idempotency_key LIKE 'cron:%';
