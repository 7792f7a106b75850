-- The PostgreSQL driver's statements, by name (see taskq/drivers/statements.py).
-- {columns} is the task row as every driver selects it (drivers/rows.py), {t_columns} the
-- same prefixed with "t.". A write that makes work ready notifies the channel taskq_tasks in
-- the same statement (pg_notify in a CTE): one statement is one transaction, so the
-- notification goes out exactly when the write commits, with no extra round trip, and
-- identical notifications of one transaction reach each listener once.

-- name: enqueue
-- Every task waiting for this round in one statement: the batch travels as one JSON array,
-- which PostgreSQL unpacks far faster than it runs one INSERT a row. ORDER BY keeps seq
-- (the FIFO tie-break) in submission order. A row whose idempotency key is taken, or whose
-- unique key an active task holds (0008), is skipped (and returns nothing); the caller
-- then reads the stored task (its ON CONFLICT: one of the two below). A task due by
-- %(now)s wakes the workers.
WITH changed AS (
    INSERT INTO taskq_tasks (id, action, payload, queue, priority, max_attempts, timeout_s,
        run_at, created_at, idempotency_key, fingerprint, trace_context, unique_key,
        concurrency_key)
    SELECT id, action, payload, queue, priority, max_attempts, timeout_s, run_at, created_at,
        idempotency_key, fingerprint, trace_context, unique_key, concurrency_key
    FROM ROWS FROM (jsonb_to_recordset(%(rows)s::jsonb) AS (
            id uuid, action text, payload jsonb, queue text, priority integer,
            max_attempts integer, timeout_s double precision, run_at double precision,
            created_at double precision, idempotency_key text, fingerprint text,
            trace_context text, unique_key text, concurrency_key text))
        WITH ORDINALITY AS new (id, action, payload, queue, priority, max_attempts, timeout_s,
            run_at, created_at, idempotency_key, fingerprint, trace_context, unique_key,
            concurrency_key, n)
    ORDER BY n
    {on_conflict}
    RETURNING id, seq, run_at),
woken AS (SELECT pg_notify('taskq_tasks', '') FROM changed WHERE run_at <= %(now)s LIMIT 1)
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken

-- name: on_key_conflict
-- A batch without unique keys: only the idempotency key can be taken (and a task id
-- stored already is an error, as it should be).
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING

-- name: on_any_conflict
-- A batch with unique keys: PostgreSQL takes one ON CONFLICT clause, and without a target
-- it covers both keys (and an id stored already, which the caller reports). Only such a
-- batch pays for it: every unique index is then probed before each row goes in.
ON CONFLICT DO NOTHING

-- name: get_by_keys
-- A separate statement: its fresh snapshot sees a key another transaction just committed.
SELECT {columns} FROM taskq_tasks WHERE idempotency_key = ANY(%s::text[])

-- name: get_by_unique_keys
-- Per unique key, the newest task holding it: the one a refused submission answers with.
SELECT DISTINCT ON (unique_key) {columns} FROM taskq_tasks
WHERE unique_key = ANY(%s::text[])
ORDER BY unique_key, seq DESC

-- name: ready_any_queue
SELECT seq, priority, run_at FROM taskq_tasks
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s
    AND concurrency_key IS NULL AND {held_back}
ORDER BY priority DESC, run_at, seq
LIMIT %(n)s
FOR UPDATE SKIP LOCKED

-- name: ready_in_queue
-- "=" lets the ready index hand rows over in claim order; "= ANY" would make PostgreSQL
-- sort every ready row of the table first.
SELECT seq, priority, run_at FROM taskq_tasks
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s AND queue = %(queue)s
    AND concurrency_key IS NULL AND {held_back}
ORDER BY priority DESC, run_at, seq
LIMIT %(n)s
FOR UPDATE SKIP LOCKED

-- name: ready_in_queues
SELECT seq, priority, run_at FROM taskq_tasks
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s
    AND queue = ANY(%(queues)s::text[])
    AND concurrency_key IS NULL AND {held_back}
ORDER BY priority DESC, run_at, seq
LIMIT %(n)s
FOR UPDATE SKIP LOCKED

-- name: held_back_left_out
-- {held_back} in claim's ready_* statement: the tasks of paused and limited queues are
-- left to the rest of the claim.
queue NOT IN (SELECT name FROM taskq_queues
    WHERE paused OR concurrency IS NOT NULL OR rate_limit IS NOT NULL)

-- name: none_held_back
-- {held_back} in claim_plain's: a one-time filter (the subquery is uncorrelated, so it is
-- read once, before the scan), that takes nothing while a queue is paused or limited, or
-- a task with a concurrency key waits (which ready_* never take: see claim).
NOT EXISTS (SELECT FROM taskq_queues
    WHERE paused OR concurrency IS NOT NULL OR rate_limit IS NOT NULL)
AND NOT EXISTS (SELECT FROM taskq_tasks WHERE concurrency_key IS NOT NULL AND status = 'queued')

-- name: any_held_back
-- Whether a claim needs flow control: a queue paused or limited, or a keyed task waiting.
SELECT EXISTS (SELECT FROM taskq_queues
        WHERE paused OR concurrency IS NOT NULL OR rate_limit IS NOT NULL)
    OR EXISTS (SELECT FROM taskq_tasks WHERE concurrency_key IS NOT NULL AND status = 'queued')

-- name: worker_commit
-- The first CTE of each statement of a worker's bookkeeping (claims, starts, results,
-- retries, lease renewals), which scans it so that it runs. With %(lazy)s, the statement's
-- transaction commits without waiting for its WAL to reach the disk (PostgreSQL's
-- asynchronous commit, for this transaction only; the server's WAL writer flushes it
-- within a few hundred milliseconds, and only a crash of the server itself can undo it:
-- the task then runs again). Otherwise it commits as the server is configured. Accepted
-- tasks never commit this way: a 202 waits for the disk.
worker_commit AS (SELECT set_config('synchronous_commit',
    CASE WHEN %(lazy)s THEN 'off' ELSE current_setting('synchronous_commit') END, true))

-- name: claim_plain
-- The claim of a store where no queue is paused or limited (most stores): claim without
-- its flow control, the statement being the smaller. Its ready_* statement takes nothing
-- when some queue is held back (none_held_back, in this statement's own snapshot, so no
-- task of a queue paused before it is taken); the driver (postgres/flow.py) then runs
-- claim. The CTE is materialised for the reason given there.
WITH {worker_commit},
picked AS MATERIALIZED ({ready}),
ranked AS (
    SELECT seq, row_number() OVER (ORDER BY priority DESC, run_at, seq) <= %(start)s AS starts
    FROM picked)
UPDATE taskq_tasks t SET worker_id = %(worker)s, lease_expires_at = %(lease)s,
    status = CASE WHEN ranked.starts THEN 'running' ELSE t.status END,
    attempts = t.attempts + ranked.starts::int,
    started_at = CASE WHEN ranked.starts THEN %(now)s ELSE t.started_at END
FROM worker_commit, ranked
WHERE t.seq = ranked.seq
RETURNING {t_columns}

-- name: claim
-- The one claim: lock up to %(n)s ready tasks (a ready_* statement; SKIP LOCKED, so
-- concurrent claimers never wait on each other nor get the same task), take them for the
-- worker under a lease, and start the first %(start)s (for runners idle now) in the same
-- statement. The others stay queued and owned: prefetched. The CTEs are materialised so
-- the locked batch is chosen exactly once (a subquery may be re-run by the planner, and
-- with SKIP LOCKED each run could pick other rows).
-- Flow control (0006, taskq/flow.py): ready_* leave out the paused and limited queues'
-- tasks. Each limited queue the worker takes ({only}: a concurrency or a rate) is locked,
-- in name order, and its room counted (taskq_queue_room, 0009) when some runner is idle;
-- up to that many of its ready tasks join the batch, and only among the first %(start)s:
-- a limited queue's task is never prefetched, so its running tasks are all it holds. The
-- starts of a rated queue's tasks are recorded (recorded_starts) under its lock. A store
-- with no limited queue locks nothing more.
-- Concurrency keys (0010): ready_* leave keyed tasks out too. Among the first keyed tasks
-- ready (keys at their limit as this snapshot sees them left out, so a busy key does not
-- hide the others), each key is given its room (taskq_key_room: under the key's lock, or
-- none if another claim holds it) and up to that many of its tasks (keyed_picks), only
-- to start; a limited queue's keyed tasks go through its own part, within its room.
WITH {worker_commit},
full_keys AS MATERIALIZED (
    SELECT r.queue, r.concurrency_key FROM taskq_tasks r
    LEFT JOIN taskq_queues q ON q.name = r.queue
    WHERE r.concurrency_key IS NOT NULL AND r.status = 'running' AND %(start)s > 0
    GROUP BY r.queue, r.concurrency_key, q.key_concurrency
    HAVING count(*) >= coalesce(q.key_concurrency, 1)),
keyed AS MATERIALIZED (
    SELECT queue, concurrency_key, taskq_key_room(queue, concurrency_key) AS room FROM (
        SELECT queue, concurrency_key FROM (
            SELECT queue, concurrency_key, min(nth) AS first_nth FROM (
                SELECT queue, concurrency_key,
                    row_number() OVER (ORDER BY priority DESC, run_at, seq) AS nth
                FROM (
                    SELECT queue, concurrency_key, priority, run_at, seq FROM taskq_tasks
                    WHERE concurrency_key IS NOT NULL AND status = 'queued'
                        AND worker_id IS NULL AND run_at <= %(now)s AND %(start)s > 0
                        AND {only_tasks}
                        AND queue NOT IN (SELECT name FROM taskq_queues WHERE paused)
                        AND (queue, concurrency_key) NOT IN (SELECT * FROM full_keys)
                    ORDER BY priority DESC, run_at, seq
                    LIMIT %(start)s * 4) AS first_ready) AS numbered
            GROUP BY queue, concurrency_key) AS firsts
        -- the first keys in claim order, one per idle runner at most: each is locked
        ORDER BY first_nth
        LIMIT %(start)s) AS candidate_keys),
keyed_picks AS MATERIALIZED (
    SELECT t.seq, t.queue FROM keyed, LATERAL (
        SELECT seq, queue FROM taskq_tasks
        WHERE concurrency_key = keyed.concurrency_key AND queue = keyed.queue
            AND status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s
        ORDER BY priority DESC, run_at, seq
        LIMIT greatest(0, least(keyed.room, %(start)s))) AS t),
limited AS MATERIALIZED (
    SELECT name, rated, taskq_queue_room(name, %(now)s) AS room FROM (
        SELECT name, rate_limit IS NOT NULL AS rated FROM taskq_queues
        WHERE (concurrency IS NOT NULL OR rate_limit IS NOT NULL) AND NOT paused
            AND %(start)s > 0 AND {only}
        ORDER BY name) AS by_name),
picked AS MATERIALIZED ({ready}),
picked_limited AS MATERIALIZED (
    SELECT t.seq, t.priority, t.run_at FROM limited, LATERAL (
        SELECT seq, priority, run_at FROM taskq_tasks
        WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s
            AND queue = limited.name
            AND (concurrency_key IS NULL OR seq IN (SELECT seq FROM keyed_picks))
        ORDER BY priority DESC, run_at, seq
        LIMIT greatest(0, least(limited.room, %(start)s))
        FOR UPDATE SKIP LOCKED) AS t
    -- never more than the starts; and the planner, told so, keeps its index join below
    -- (an empty queues table is otherwise estimated at hundreds of rows)
    LIMIT %(start)s),
picked_keyed AS MATERIALIZED (
    -- row by row through the primary key (a join could scan the table for a few picks)
    SELECT t.seq, t.priority, t.run_at FROM keyed_picks, LATERAL (
        SELECT seq, priority, run_at FROM taskq_tasks
        WHERE seq = keyed_picks.seq AND status = 'queued' AND worker_id IS NULL
        FOR UPDATE SKIP LOCKED) AS t
    WHERE keyed_picks.queue NOT IN (
        SELECT name FROM taskq_queues WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL)
    LIMIT %(start)s),
ranked AS (
    SELECT seq, is_limited, row_number() OVER (ORDER BY priority DESC, run_at, seq) AS nth
    FROM (SELECT seq, priority, run_at, false AS is_limited FROM picked
          UNION ALL
          SELECT seq, priority, run_at, true FROM picked_limited
          UNION ALL
          SELECT seq, priority, run_at, true FROM picked_keyed) AS candidates),
chosen AS (
    SELECT seq, nth <= %(start)s AS starts FROM ranked
    WHERE nth <= %(start)s OR (NOT is_limited AND nth <= %(n)s)
    -- never more; and the planner, told so, updates through the primary key rather than
    -- hashing the whole table
    LIMIT %(n)s),
claimed AS (
    UPDATE taskq_tasks t SET worker_id = %(worker)s, lease_expires_at = %(lease)s,
        status = CASE WHEN chosen.starts THEN 'running' ELSE t.status END,
        attempts = t.attempts + chosen.starts::int,
        started_at = CASE WHEN chosen.starts THEN %(now)s ELSE t.started_at END
    FROM worker_commit, chosen
    WHERE t.seq = chosen.seq
    RETURNING {t_columns}),
recorded_starts AS (
    INSERT INTO taskq_queue_starts (queue, at)
    SELECT claimed.queue, %(now)s FROM claimed JOIN limited ON limited.name = claimed.queue
    WHERE limited.rated AND claimed.status = 'running')
SELECT * FROM claimed

-- name: only_any_queue
-- Which limited queues a claim takes ({only} in claim), for each ready_* statement.
TRUE

-- name: only_in_queue
name = %(queue)s

-- name: only_in_queues
name = ANY(%(queues)s::text[])

-- name: only_tasks_any_queue
-- Which keyed tasks a claim takes ({only_tasks} in claim), for each ready_* statement.
TRUE

-- name: only_tasks_in_queue
queue = %(queue)s

-- name: only_tasks_in_queues
queue = ANY(%(queues)s::text[])

-- name: start_many
-- Start prefetched tasks, every one waiting for this round at once: per task, its attempt
-- number if it was still the worker's.
WITH {worker_commit}
UPDATE taskq_tasks t SET status = 'running', attempts = t.attempts + 1, started_at = v.at,
    lease_expires_at = v.lease
FROM worker_commit, jsonb_to_recordset(%(rows)s::jsonb) AS v(id uuid, worker text,
    at double precision, lease double precision)
WHERE t.id = v.id AND t.worker_id = v.worker AND t.status = 'queued'
RETURNING t.id, t.attempts

-- name: complete_many
-- Record results, every one waiting for this round at once: the ids still the worker's.
WITH {worker_commit}
UPDATE taskq_tasks t SET status = 'completed', result = v.result, error = NULL,
    processed_at = v.at, worker_id = NULL, lease_expires_at = NULL
FROM worker_commit, jsonb_to_recordset(%(rows)s::jsonb) AS v(id uuid, worker text,
    result jsonb, at double precision)
WHERE t.id = v.id AND t.worker_id = v.worker AND t.status = 'running'
RETURNING t.id

-- name: retry_later
-- A failed attempt with attempts left: queued again from %(run_at)s. A task whose
-- cancellation was asked for ends cancelled rather than retried; one due at once (e.g.
-- interrupted by a shutdown) wakes another worker.
WITH {worker_commit},
changed AS (
    UPDATE taskq_tasks SET
        status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
        processed_at = CASE WHEN cancel_requested THEN %(at)s END,
        error = %(error)s, errors = errors || jsonb_build_array(%(error_json)s::jsonb),
        run_at = %(run_at)s, worker_id = NULL, lease_expires_at = NULL
    FROM worker_commit
    WHERE id = %(id)s AND worker_id = %(worker)s AND status = 'running'
    RETURNING status, run_at),
woken AS (
    SELECT pg_notify('taskq_tasks', '') FROM changed
    WHERE status = 'queued' AND run_at <= %(now)s LIMIT 1)
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken

-- name: finish
-- A failed attempt that ends the task: %(status)s is 'failed' (the dead letter) or
-- 'cancelled' (stopped because its cancellation was asked for).
WITH {worker_commit}
UPDATE taskq_tasks SET status = %(status)s, error = %(error)s,
    errors = errors || jsonb_build_array(%(error_json)s::jsonb),
    processed_at = %(now)s, worker_id = NULL, lease_expires_at = NULL
FROM worker_commit
WHERE id = %(id)s AND worker_id = %(worker)s AND status = 'running'

-- name: cancel_queued
UPDATE taskq_tasks SET status = 'cancelled', error = 'cancelled', processed_at = %s,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = %s AND status = 'queued'

-- name: cancel_running
-- Its worker, on whatever host, notices within its cancel poll and stops the attempt.
UPDATE taskq_tasks SET cancel_requested = true WHERE id = %s AND status = 'running'

-- name: cancel_requests
SELECT id FROM taskq_tasks WHERE worker_id = %s AND cancel_requested AND status = 'running'

-- name: requeue
-- Retry by hand: a failed or cancelled task ({retryable}), queued again with a fresh
-- attempt budget.
WITH changed AS (
    UPDATE taskq_tasks SET status = 'queued', attempts = 0, run_at = %s, result = NULL,
        started_at = NULL, processed_at = NULL, cancel_requested = false,
        worker_id = NULL, lease_expires_at = NULL
    WHERE id = %s AND {retryable}
    RETURNING {columns}),
woken AS (SELECT pg_notify('taskq_tasks', '') FROM changed LIMIT 1)
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken

-- name: prune
-- SKIP LOCKED: concurrent pruners share the work instead of waiting for each other.
DELETE FROM taskq_tasks WHERE seq IN (
    SELECT seq FROM taskq_tasks
    WHERE status IN ('completed', 'failed', 'cancelled') AND processed_at < %s
    LIMIT %s
    FOR UPDATE SKIP LOCKED)

-- name: release
-- Give back prefetched tasks that were never started (a graceful shutdown).
WITH changed AS (
    UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
    WHERE id = ANY(%s::uuid[]) AND worker_id = %s AND status = 'queued'
    RETURNING seq),
woken AS (SELECT pg_notify('taskq_tasks', '') FROM changed LIMIT 1)
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken

-- name: renew
-- A worker's heartbeat: only the tasks it holds.
WITH {worker_commit}
UPDATE taskq_tasks SET lease_expires_at = %(lease)s FROM worker_commit
WHERE worker_id = %(worker)s AND id = ANY(%(ids)s::uuid[])

-- name: recover_unstarted
-- Lease rescue: a lost worker's prefetched tasks simply go back. Every worker runs it on
-- its heartbeat; SKIP LOCKED keeps them from queueing up behind each other or behind a
-- heartbeat renewing those very rows (which then wins).
UPDATE taskq_tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE seq IN (
    SELECT seq FROM taskq_tasks
    WHERE worker_id IS NOT NULL AND status = 'queued'
        AND (lease_expires_at < %(now)s OR worker_id = ANY(%(dead)s::text[]))
    FOR UPDATE SKIP LOCKED)

-- name: recover_running
-- Lease rescue: a lost worker's running tasks count a failed attempt (or end cancelled,
-- if that was asked for).
UPDATE taskq_tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled'
        WHEN attempts < coalesce(max_attempts, %(default)s::integer) THEN 'queued'
        ELSE 'failed' END,
    processed_at = CASE
        WHEN attempts < coalesce(max_attempts, %(default)s::integer) AND NOT cancel_requested
        THEN NULL ELSE %(now)s END,
    error = %(error)s::text,
    errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempts,
        'error', %(error)s::text, 'at', %(now)s::double precision, 'traceback', NULL)),
    run_at = %(now)s, worker_id = NULL, lease_expires_at = NULL
WHERE seq IN (
    SELECT seq FROM taskq_tasks
    WHERE worker_id IS NOT NULL AND status = 'running'
        AND (lease_expires_at < %(now)s OR worker_id = ANY(%(dead)s::text[]))
    FOR UPDATE SKIP LOCKED)

-- name: notify
NOTIFY taskq_tasks

-- name: listen
LISTEN taskq_tasks

-- name: publish_events
-- Its own transaction (autocommit): the database-wide lock a NOTIFY takes at commit is
-- held for this statement only, never for a write of tasks.
SELECT pg_notify('taskq_events', %s)

-- name: listen_events
LISTEN taskq_events

-- name: held_workers
SELECT DISTINCT worker_id FROM taskq_tasks WHERE worker_id IS NOT NULL

-- name: get
SELECT {columns} FROM taskq_tasks WHERE id = %s

-- name: list
-- Newest first, with the filter given ({where}: the filter_* fragments joined by AND).
SELECT {columns} FROM taskq_tasks WHERE {where} ORDER BY seq DESC LIMIT %(limit)s

-- name: filter_id
-- ids are checked canonical UUIDs (TaskFilter.check): the casts cannot fail
id = %(id)s::uuid

-- name: filter_ids
id = ANY(%(ids)s::uuid[])

-- name: filter_status
status = %(status)s

-- name: filter_statuses
status = ANY(%(statuses)s::text[])

-- name: filter_queue
queue = %(queue)s

-- name: filter_queues
queue = ANY(%(queues)s::text[])

-- name: filter_action
action = %(action)s

-- name: filter_actions
action = ANY(%(actions)s::text[])

-- name: filter_created_after
created_at >= %(created_after)s

-- name: filter_created_before
created_at < %(created_before)s

-- name: filter_error_pattern
-- The error search: a pattern whose user-given % and _ are escaped (rows.like_pattern).
error ILIKE %(error_pattern)s ESCAPE '\'

-- name: filter_idempotency_key
idempotency_key = %(idempotency_key)s

-- name: filter_idempotency_keys
idempotency_key = ANY(%(idempotency_keys)s::text[])

-- name: filter_before
seq < %(before)s

-- name: retryable
-- What each bulk action applies to: failed or cancelled tasks are retried; queued ones
-- cancelled and running ones (not yet asked) asked to stop; finished ones deleted. A task
-- with a unique key is retried only while it is the newest holding it: only the newest
-- can be active (a submission makes the newest; it is refused while one is active), so
-- this keeps the key's rule, at most one active, and a bulk retry takes one per key.
status IN ('failed', 'cancelled') AND (unique_key IS NULL
    OR seq = (SELECT max(newest.seq) FROM taskq_tasks AS newest
              WHERE newest.unique_key = taskq_tasks.unique_key))

-- name: cancellable
(status = 'queued' OR (status = 'running' AND NOT cancel_requested))

-- name: deletable
status IN ('completed', 'failed', 'cancelled')

-- name: delete
-- A finished task, by id; a queued or running one stays.
DELETE FROM taskq_tasks WHERE id = %s AND status IN ('completed', 'failed', 'cancelled')
RETURNING {columns}

-- name: requeue_matching
-- Bulk retry: up to %(limit)s of the filter's failed or cancelled tasks, newest first, as
-- requeue does one ({where} holds the filter and `retryable`, checked again on each row
-- as it is updated, in case a concurrent write changed it). One more candidate than the
-- limit is read to tell whether more are left. Wakes the workers.
WITH candidates AS MATERIALIZED (
    SELECT seq FROM taskq_tasks WHERE {where} ORDER BY seq DESC LIMIT %(limit)s + 1),
changed AS (
    UPDATE taskq_tasks SET status = 'queued', attempts = 0, run_at = %(now)s, result = NULL,
        started_at = NULL, processed_at = NULL, cancel_requested = false,
        worker_id = NULL, lease_expires_at = NULL
    WHERE seq IN (SELECT seq FROM candidates ORDER BY seq DESC LIMIT %(limit)s) AND {where}
    RETURNING seq),
woken AS (SELECT pg_notify('taskq_tasks', '') FROM changed LIMIT 1)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) > %(limit)s FROM candidates),
    (SELECT count(*) FROM woken)

-- name: cancel_matching
-- Bulk cancel: up to %(limit)s of the filter's queued tasks cancelled and running ones
-- asked to stop, newest first, as cancel does one ({where} holds the filter and
-- `cancellable`). Every SET reads the row as it was.
WITH candidates AS MATERIALIZED (
    SELECT seq FROM taskq_tasks WHERE {where} ORDER BY seq DESC LIMIT %(limit)s + 1),
changed AS (
    UPDATE taskq_tasks SET
        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
        error = CASE WHEN status = 'queued' THEN 'cancelled' ELSE error END,
        processed_at = CASE WHEN status = 'queued' THEN %(now)s ELSE processed_at END,
        worker_id = CASE WHEN status = 'queued' THEN NULL ELSE worker_id END,
        lease_expires_at = CASE WHEN status = 'queued' THEN NULL ELSE lease_expires_at END,
        cancel_requested = cancel_requested OR status = 'running'
    WHERE seq IN (SELECT seq FROM candidates ORDER BY seq DESC LIMIT %(limit)s) AND {where}
    RETURNING seq)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) > %(limit)s FROM candidates)

-- name: delete_matching
-- Bulk delete: up to %(limit)s of the filter's finished tasks, newest first ({where}
-- holds the filter and `deletable`).
WITH candidates AS MATERIALIZED (
    SELECT seq FROM taskq_tasks WHERE {where} ORDER BY seq DESC LIMIT %(limit)s + 1),
changed AS (
    DELETE FROM taskq_tasks
    WHERE seq IN (SELECT seq FROM candidates ORDER BY seq DESC LIMIT %(limit)s) AND {where}
    RETURNING seq)
SELECT (SELECT count(*) FROM changed), (SELECT count(*) > %(limit)s FROM candidates)

-- name: counts
SELECT status, count(*) FROM taskq_tasks GROUP BY status

-- GET /queues and GET /stats (see taskq/stats.py). Each window statement reads the rows
-- that finished in (:since, :now] through taskq_tasks_finished, whose predicate it
-- repeats.

-- name: queue_counts
-- Tasks by queue and status: all but the running ones from
-- taskq_tasks_queue_status_not_running (0011), index-only where the visibility map allows;
-- the running ones through taskq_tasks_status_seq, a row each (as many as workers run).
-- The driver keeps the first queues by name (stats.MAX_QUEUES): limiting the queues in
-- SQL first (DISTINCT ... LIMIT in a subquery) read the index twice, 6 times slower.
SELECT queue, status, count(*) FROM taskq_tasks
WHERE status <> 'running' GROUP BY queue, status
UNION ALL
SELECT queue, 'running', count(*) FROM taskq_tasks
WHERE status = 'running' GROUP BY queue

-- name: queue_oldest_ready
-- The run_at of each queue's oldest task that is queued, due and held by no worker: the
-- partial index claim reads holds only those waiting.
SELECT queue, min(run_at) FROM taskq_tasks
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= %(now)s
GROUP BY queue

-- name: queue_throughput
SELECT queue, count(*) FILTER (WHERE status = 'completed'),
    count(*) FILTER (WHERE status = 'failed')
FROM taskq_tasks
WHERE status IN ('completed', 'failed', 'cancelled')
    AND processed_at > %(since)s AND processed_at <= %(now)s
GROUP BY queue

-- name: window_stats
-- One window's throughput and, over the completed and failed tasks that finished last in
-- it (at most %(sample)s), the wait and run time percentiles, as the other drivers
-- compute them (drivers/rows.py: percentile).
WITH finished AS (
    SELECT status, processed_at, started_at, run_at FROM taskq_tasks
    WHERE status IN ('completed', 'failed', 'cancelled')
        AND processed_at > %(since)s AND processed_at <= %(now)s),
sample AS (
    SELECT started_at - run_at AS wait_s, processed_at - started_at AS run_s FROM finished
    WHERE status <> 'cancelled' AND started_at IS NOT NULL
    ORDER BY processed_at DESC
    LIMIT %(sample)s)
SELECT
    (SELECT count(*) FROM finished WHERE status = 'completed'),
    (SELECT count(*) FROM finished WHERE status = 'failed'),
    percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY wait_s),
    percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY run_s)
FROM sample

-- The workers table (0004; GET /workers and /schedules, see taskq/roster.py).
-- {worker_columns} is a worker row as every driver selects it (drivers/rows.py).

-- name: announce
-- A worker that starts, or announces itself again (its row was forgotten while it could
-- not beat).
INSERT INTO taskq_workers (id, host, pid, queues, concurrency, lease_s, schedules,
    started_at, last_seen)
VALUES (%(id)s, %(host)s, %(pid)s, %(queues)s::jsonb, %(concurrency)s, %(lease_s)s,
    %(schedules)s::jsonb, %(started_at)s, %(last_seen)s)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen

-- name: beat
-- A worker's heartbeat: its own last_seen, and, in the same statement, the rows of workers
-- that stopped beating for their lease_s deleted (their tasks' leases lapsed too). Answers
-- a row while the worker's own row is stored.
WITH forgotten AS (
    DELETE FROM taskq_workers WHERE last_seen + lease_s < %(now)s AND id <> %(id)s)
UPDATE taskq_workers SET last_seen = %(now)s WHERE id = %(id)s
RETURNING id

-- name: retire
DELETE FROM taskq_workers WHERE id = %s

-- name: live_workers
SELECT {worker_columns} FROM taskq_workers WHERE last_seen + lease_s >= %(now)s
ORDER BY started_at, id

-- name: running_tasks
-- What every worker runs now: only the running tasks, through taskq_tasks_status_seq.
SELECT worker_id, id FROM taskq_tasks WHERE worker_id IS NOT NULL AND status = 'running'
ORDER BY seq

-- name: last_tick
-- The newest tick task of an action: its key cron:<action>:<tick>. The LIKE repeats
-- taskq_tasks_cron_ticks's predicate, so the planner may use that index.
SELECT idempotency_key FROM taskq_tasks
WHERE idempotency_key LIKE 'cron:%%' AND action = %(action)s
    AND substr(idempotency_key, 1, length(%(prefix)s)) = %(prefix)s
ORDER BY seq DESC LIMIT 1

-- name: ping
SELECT 1 FROM taskq_tasks LIMIT 0

-- name: migration_lock
-- Serialises concurrent `taskq migrate` runs; the server drops it if its holder dies.
SELECT pg_advisory_lock(%s)

-- name: migration_unlock
SELECT pg_advisory_unlock(%s)

-- The keys table (0005; taskq/keys.py): each key's digest, never the key.
-- {key_columns} is a key row as every driver selects it (drivers/rows.py).

-- name: create_key
-- A name already taken stores nothing (no row changed): of two concurrent creates of
-- one name, the second waits for the first to commit, then does nothing.
INSERT INTO taskq_keys (name, scope, digest, created_at, last_used_at)
VALUES (%(name)s, %(scope)s, %(digest)s, %(created_at)s, %(last_used_at)s)
ON CONFLICT (name) DO NOTHING

-- name: list_keys
-- By name in code point order, as on SQLite, whatever the database's collation.
SELECT {key_columns} FROM taskq_keys ORDER BY name COLLATE "C"

-- name: find_key
SELECT {key_columns} FROM taskq_keys WHERE digest = %s

-- name: has_keys
SELECT EXISTS (SELECT 1 FROM taskq_keys)

-- name: touch_key
UPDATE taskq_keys SET last_used_at = %(now)s WHERE name = %(name)s

-- name: revoke_key
DELETE FROM taskq_keys WHERE name = %s

-- GET /metrics (taskq/metrics.py): each scrape reads only what happened since the
-- previous one.

-- name: metrics_finished
-- The tasks that finished in (after, until], read through taskq_tasks_finished (its
-- predicate repeated), by queue, action and status: how many, their attempts, how many
-- ran, how many of their attempts lease rescue ended (the lease_lost entries of errors),
-- and over the completed and failed ones that ran, their wait and run times: count, sums
-- and, {wait_le} and {run_le}, one count per histogram bound (metrics.bucket_sums).
WITH finished AS (
    SELECT queue, action, status, attempts, errors,
        CASE WHEN status <> 'cancelled' THEN started_at - run_at END AS wait_s,
        CASE WHEN status <> 'cancelled' THEN processed_at - started_at END AS run_s
    FROM taskq_tasks
    WHERE status IN ('completed', 'failed', 'cancelled')
        AND processed_at > %(after)s AND processed_at <= %(until)s)
SELECT queue, action, status, count(*), sum(attempts), count(*) FILTER (WHERE attempts > 0),
    sum(CASE WHEN errors = '[]'::jsonb THEN 0 ELSE jsonb_array_length(jsonb_path_query_array(
        errors, '$[*] ? (@.error == $lost)', jsonb_build_object('lost', %(lease_lost)s::text)))
        END),
    count(wait_s), sum(wait_s), sum(run_s), {wait_le}, {run_le}
FROM finished
GROUP BY queue, action, status

-- name: metrics_submitted
-- The tasks stored after seq after (a range of the primary key), up to but excluding the
-- first one created after until (a row still in flight, or from a clock ahead, is counted
-- by the next scrape), by queue and action, with the last seq counted.
WITH fresh AS (SELECT seq, queue, action, created_at FROM taskq_tasks WHERE seq > %(after)s)
SELECT queue, action, count(*), max(seq) FROM fresh
WHERE seq < coalesce((SELECT min(seq) FROM fresh WHERE created_at > %(until)s),
    9223372036854775807)
GROUP BY queue, action

-- name: metrics_seq_before
-- Where counting submissions starts: the newest task created by at, walking the primary
-- key back from the newest (as many rows as were stored since at).
SELECT seq FROM taskq_tasks WHERE created_at <= %(at)s ORDER BY seq DESC LIMIT 1

-- Flow control (0006; taskq/flow.py): the queues table, read by every claim.
-- {queue_columns} is a queues row as every driver selects it (drivers/rows.py).

-- name: update_queue
-- The settings given (%(paused)s NULL, a %(keep_...)s true: left as they are) in one
-- statement; a queue left unpaused wakes idle workers (its tasks may
-- be claimable). A queue left with no rate forgets its starts.
WITH changed AS (
    INSERT INTO taskq_queues AS q (name, paused, concurrency, updated_at, rate_limit,
        rate_period_s, key_concurrency)
    VALUES (%(name)s, coalesce(%(paused)s, false),
        CASE WHEN %(keep_concurrency)s THEN NULL ELSE %(concurrency)s::integer END,
        %(now)s,
        CASE WHEN %(keep_rate)s THEN NULL ELSE %(rate_limit)s::integer END,
        CASE WHEN %(keep_rate)s THEN NULL ELSE %(rate_period_s)s::double precision END,
        CASE WHEN %(keep_key_concurrency)s THEN NULL ELSE %(key_concurrency)s::integer END)
    ON CONFLICT (name) DO UPDATE SET paused = coalesce(%(paused)s, q.paused),
        concurrency = CASE WHEN %(keep_concurrency)s THEN q.concurrency
            ELSE %(concurrency)s::integer END,
        rate_limit = CASE WHEN %(keep_rate)s THEN q.rate_limit
            ELSE %(rate_limit)s::integer END,
        rate_period_s = CASE WHEN %(keep_rate)s THEN q.rate_period_s
            ELSE %(rate_period_s)s::double precision END,
        key_concurrency = CASE WHEN %(keep_key_concurrency)s THEN q.key_concurrency
            ELSE %(key_concurrency)s::integer END,
        updated_at = %(now)s
    RETURNING {queue_columns}),
woken AS (SELECT pg_notify('taskq_tasks', '') FROM changed WHERE NOT paused),
forgotten AS (
    DELETE FROM taskq_queue_starts WHERE queue = %(name)s
        AND EXISTS (SELECT 1 FROM changed WHERE rate_limit IS NULL))
SELECT changed.* FROM changed, (SELECT count(*) FROM woken) AS run_woken

-- name: queue_settings
SELECT {queue_columns} FROM taskq_queues ORDER BY name COLLATE "C"
