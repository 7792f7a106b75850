-- The SQLite driver's statements, by name (see taskq/drivers/statements.py).
-- {columns} is the task row as every driver selects it (drivers/rows.py); {rows} a list of
-- placeholder rows "(?, ?), (?, ?)" as long as the batch.

-- name: insert
-- Publish: every task waiting for this transaction in one INSERT, in submission order
-- (so seq is FIFO). A row whose idempotency key is taken, or whose unique key an active
-- task holds (0008), is skipped.
INSERT INTO tasks (id, action, payload, queue, priority, max_attempts, timeout_s, run_at,
    created_at, idempotency_key, fingerprint, trace_context, unique_key, concurrency_key)
VALUES {rows}
ON CONFLICT (idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND status IN ('queued', 'running')
    DO NOTHING

-- name: last_seq
SELECT last_insert_rowid()

-- name: seqs_of_ids
SELECT id, seq, created_at FROM tasks WHERE id IN (SELECT value FROM json_each(?))

-- name: database_file
-- The file of a connection's main database ('' for an in-memory or temporary one).
SELECT file FROM pragma_database_list WHERE name = 'main'

-- name: get_by_key
SELECT {columns} FROM tasks WHERE idempotency_key = ?

-- name: get_by_unique_key
-- The task a submission refused for its unique key answers with: the newest holding it.
SELECT {columns} FROM tasks WHERE unique_key = ? ORDER BY seq DESC LIMIT 1

-- name: ready_any_queue
-- Ready tasks in claim order: priority, then FIFO. INDEXED BY: left to itself the planner
-- picks tasks_status_seq and sorts every waiting task. A task with a concurrency key is
-- claimed under flow control only (flow.py).
SELECT seq FROM tasks INDEXED BY tasks_ready
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now AND concurrency_key IS NULL
ORDER BY priority DESC, run_at, seq
LIMIT :n

-- name: ready_in_queue
SELECT seq FROM tasks INDEXED BY tasks_ready_by_queue
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now AND queue = :queue
    AND concurrency_key IS NULL
ORDER BY priority DESC, run_at, seq
LIMIT :n

-- name: ready_in_queues
SELECT seq FROM tasks INDEXED BY tasks_ready
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now
    AND queue IN (SELECT value FROM json_each(:queues)) AND concurrency_key IS NULL
ORDER BY priority DESC, run_at, seq
LIMIT :n

-- name: claim
-- The one claim: take up to :n ready tasks (a ready_* statement) for :worker under a lease,
-- and start the first :start of them (for runners idle now) in the same write. The others
-- stay queued and owned: prefetched.
WITH picked AS (
    SELECT seq, row_number() OVER (ORDER BY priority DESC, run_at, seq) <= :start AS starts
    FROM tasks WHERE seq IN ({ready}))
UPDATE tasks SET worker_id = :worker, lease_expires_at = :lease,
    status = CASE WHEN picked.starts THEN 'running' ELSE status END,
    attempts = attempts + picked.starts,
    started_at = CASE WHEN picked.starts THEN :now ELSE started_at END
FROM picked WHERE tasks.seq = picked.seq
RETURNING {columns}

-- name: owned
-- Which of a batch's tasks (a VALUES list v) the worker still owns in the expected status,
-- with their attempts; read in the same transaction as the update that follows. The last
-- parameter is the status.
WITH v({v_columns}) AS (VALUES {rows})
SELECT json_group_object(v.id, t.attempts) FROM v JOIN tasks t
    ON t.id = v.id AND t.worker_id = v.worker AND t.status = ?

-- name: start_many
-- Start prefetched tasks, every one waiting for this transaction at once.
WITH v(id, worker, at, lease) AS (VALUES {rows})
UPDATE tasks SET status = 'running', attempts = attempts + 1, started_at = v.at,
    lease_expires_at = v.lease
FROM v WHERE tasks.id = v.id AND tasks.worker_id = v.worker AND tasks.status = 'queued'

-- name: complete_many
-- Record results, every one waiting for this transaction at once.
WITH v(id, worker, result, at) AS (VALUES {rows})
UPDATE tasks SET status = 'completed', result = v.result, error = NULL, processed_at = v.at,
    worker_id = NULL, lease_expires_at = NULL
FROM v WHERE tasks.id = v.id AND tasks.worker_id = v.worker AND tasks.status = 'running'

-- name: retry_later
-- A failed attempt with attempts left: queued again from :run_at. A task whose
-- cancellation was asked for ends cancelled rather than retried.
UPDATE tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END,
    processed_at = CASE WHEN cancel_requested THEN :at END,
    error = :error, errors = json_insert(errors, '$[#]', json(:error_json)), run_at = :run_at,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND worker_id = :worker AND status = 'running'

-- name: finish
-- A failed attempt that ends the task: :status is 'failed' (the dead letter) or
-- 'cancelled' (stopped because its cancellation was asked for).
UPDATE tasks SET status = :status, error = :error,
    errors = json_insert(errors, '$[#]', json(:error_json)), processed_at = :now,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = :id AND worker_id = :worker AND status = 'running'

-- name: cancel_queued
UPDATE tasks SET status = 'cancelled', error = 'cancelled', processed_at = ?,
    worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND status = 'queued'

-- name: cancel_running
-- Its worker notices within its cancel poll and stops the attempt.
UPDATE tasks SET cancel_requested = 1 WHERE id = ? AND status = 'running'

-- name: cancel_requests
SELECT id FROM tasks WHERE worker_id = ? AND cancel_requested = 1 AND status = 'running'

-- name: requeue
-- Retry by hand: a failed or cancelled task ({retryable}), queued again with a fresh
-- attempt budget.
UPDATE tasks SET status = 'queued', attempts = 0, run_at = ?, result = NULL, started_at = NULL,
    processed_at = NULL, cancel_requested = 0, worker_id = NULL, lease_expires_at = NULL
WHERE id = ? AND {retryable}

-- name: prune
DELETE FROM tasks WHERE seq IN (
    SELECT seq FROM tasks
    WHERE status IN ('completed', 'failed', 'cancelled') AND processed_at < ?
    LIMIT ?)

-- name: release
-- Give back prefetched tasks that were never started (a graceful shutdown).
UPDATE tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE worker_id = ? AND status = 'queued' AND id IN (SELECT value FROM json_each(?))

-- name: renew
-- A worker's heartbeat: only the tasks it holds.
UPDATE tasks SET lease_expires_at = ?
WHERE worker_id = ? AND id IN (SELECT value FROM json_each(?))

-- name: recover_unstarted
-- Lease rescue: a lost worker's prefetched tasks simply go back.
UPDATE tasks SET worker_id = NULL, lease_expires_at = NULL
WHERE worker_id IS NOT NULL AND status = 'queued'
    AND (lease_expires_at < :now OR worker_id IN (SELECT value FROM json_each(:dead)))

-- name: recover_running
-- Lease rescue: a lost worker's running tasks count a failed attempt (or end cancelled,
-- if that was asked for).
UPDATE tasks SET
    status = CASE WHEN cancel_requested THEN 'cancelled'
                  WHEN attempts < coalesce(max_attempts, :default) THEN 'queued'
                  ELSE 'failed' END,
    processed_at = CASE WHEN attempts < coalesce(max_attempts, :default) AND NOT cancel_requested
                        THEN NULL ELSE :now END,
    error = :error,
    errors = json_insert(errors, '$[#]',
        json_object('attempt', attempts, 'error', :error, 'at', json(:now_json),
            'traceback', NULL)),
    run_at = :now, worker_id = NULL, lease_expires_at = NULL
WHERE worker_id IS NOT NULL AND status = 'running'
    AND (lease_expires_at < :now OR worker_id IN (SELECT value FROM json_each(:dead)))

-- name: held_workers
SELECT DISTINCT worker_id FROM tasks WHERE worker_id IS NOT NULL

-- name: get
SELECT {columns} FROM tasks WHERE id = ?

-- name: list
-- Newest first, with the filter given ({where}: the filter_* fragments joined by AND).
SELECT {columns} FROM tasks WHERE {where} ORDER BY seq DESC LIMIT :limit

-- name: filter_id
id = :id

-- name: filter_ids
id IN (SELECT value FROM json_each(:ids))

-- name: filter_status
status = :status

-- name: filter_statuses
status IN (SELECT value FROM json_each(:statuses))

-- name: filter_queue
queue = :queue

-- name: filter_queues
queue IN (SELECT value FROM json_each(:queues))

-- name: filter_action
action = :action

-- name: filter_actions
action IN (SELECT value FROM json_each(:actions))

-- name: filter_created_after
created_at >= :created_after

-- name: filter_created_before
created_at < :created_before

-- name: filter_error_pattern
-- The error search: a pattern whose user-given % and _ are escaped (rows.like_pattern);
-- SQLite's LIKE folds ASCII letters, so it is case-insensitive.
error LIKE :error_pattern ESCAPE '\'

-- name: filter_idempotency_key
idempotency_key = :idempotency_key

-- name: filter_idempotency_keys
idempotency_key IN (SELECT value FROM json_each(:idempotency_keys))

-- name: filter_before
seq < :before

-- name: retryable
-- What each bulk action applies to: failed or cancelled tasks are retried; queued ones
-- cancelled and running ones (not yet asked) asked to stop; finished ones deleted. A task
-- with a unique key is retried only while it is the newest holding it: only the newest
-- can be active (a submission makes the newest; it is refused while one is active), so
-- this keeps the key's rule, at most one active, and a bulk retry takes one per key.
status IN ('failed', 'cancelled') AND (unique_key IS NULL
    OR seq = (SELECT max(newest.seq) FROM tasks AS newest
              WHERE newest.unique_key = tasks.unique_key))

-- name: cancellable
(status = 'queued' OR (status = 'running' AND cancel_requested = 0))

-- name: deletable
status IN ('completed', 'failed', 'cancelled')

-- name: delete
-- A finished task, by id; a queued or running one stays.
DELETE FROM tasks WHERE id = ? AND status IN ('completed', 'failed', 'cancelled')
RETURNING {columns}

-- name: requeue_matching
-- Bulk retry: up to :limit of the filter's failed or cancelled tasks, newest first, as
-- requeue does one ({where} holds the filter and `retryable`).
UPDATE tasks SET status = 'queued', attempts = 0, run_at = :now, result = NULL,
    started_at = NULL, processed_at = NULL, cancel_requested = 0, worker_id = NULL,
    lease_expires_at = NULL
WHERE seq IN (SELECT seq FROM tasks WHERE {where} ORDER BY seq DESC LIMIT :limit)

-- name: cancel_matching
-- Bulk cancel: up to :limit of the filter's queued tasks cancelled and running ones asked
-- to stop, newest first, as cancel does one ({where} holds the filter and `cancellable`).
-- Every SET reads the row as it was.
UPDATE tasks SET
    status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    error = CASE WHEN status = 'queued' THEN 'cancelled' ELSE error END,
    processed_at = CASE WHEN status = 'queued' THEN :now ELSE processed_at END,
    worker_id = CASE WHEN status = 'queued' THEN NULL ELSE worker_id END,
    lease_expires_at = CASE WHEN status = 'queued' THEN NULL ELSE lease_expires_at END,
    cancel_requested = CASE WHEN status = 'running' THEN 1 ELSE cancel_requested END
WHERE seq IN (SELECT seq FROM tasks WHERE {where} ORDER BY seq DESC LIMIT :limit)

-- name: delete_matching
-- Bulk delete: up to :limit of the filter's finished tasks, newest first ({where} holds
-- the filter and `deletable`).
DELETE FROM tasks
WHERE seq IN (SELECT seq FROM tasks WHERE {where} ORDER BY seq DESC LIMIT :limit)

-- name: any_matching
-- Whether a bulk action left tasks it applies to: read in its transaction, after it.
SELECT EXISTS (SELECT 1 FROM tasks WHERE {where})

-- name: counts
SELECT status, count(*) FROM tasks GROUP BY status

-- GET /queues and GET /stats (see taskq/stats.py). Each window statement reads the rows
-- that finished in (:since, :now] through tasks_finished, whose predicate it repeats word
-- for word: SQLite uses a partial index only for a query that states its condition.

-- name: queue_counts
-- Tasks by queue and status: all but the running ones from tasks_queue_status_not_running
-- (0011) alone, in order; the running ones through tasks_status_seq, a row each (as many
-- as workers run). The driver keeps the first queues by name (stats.MAX_QUEUES).
SELECT queue, status, count(*) FROM tasks INDEXED BY tasks_queue_status_not_running
WHERE status <> 'running' GROUP BY queue, status
UNION ALL
SELECT queue, 'running', count(*) FROM tasks INDEXED BY tasks_status_seq
WHERE status = 'running' GROUP BY queue

-- name: queue_oldest_ready
-- The run_at of each queue's oldest task that is queued, due and held by no worker: the
-- partial index claim reads holds only those waiting.
SELECT queue, min(run_at) FROM tasks INDEXED BY tasks_ready_by_queue
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now
GROUP BY queue

-- name: queue_throughput
SELECT queue, sum(status = 'completed'), sum(status = 'failed') FROM tasks
WHERE status IN ('completed', 'failed', 'cancelled')
    AND processed_at > :since AND processed_at <= :now
GROUP BY queue

-- name: throughput
SELECT coalesce(sum(status = 'completed'), 0), coalesce(sum(status = 'failed'), 0)
FROM tasks
WHERE status IN ('completed', 'failed', 'cancelled')
    AND processed_at > :since AND processed_at <= :now

-- name: durations
-- The completed and failed tasks that finished last in the window, at most :sample of
-- them, newest first: when each finished, how long it waited, how long it ran.
SELECT processed_at, started_at - run_at, processed_at - started_at FROM tasks
WHERE status IN ('completed', 'failed', 'cancelled')
    AND processed_at > :since AND processed_at <= :now
    AND status <> 'cancelled' AND started_at IS NOT NULL
ORDER BY processed_at DESC
LIMIT :sample

-- The workers table (0004; GET /workers and /schedules, see taskq/roster.py).
-- {worker_columns} is a worker row as every driver selects it (drivers/rows.py).

-- name: announce
-- A worker that starts, or announces itself again (its row was forgotten while it could
-- not beat).
INSERT INTO workers (id, host, pid, queues, concurrency, lease_s, schedules, started_at,
    last_seen)
VALUES (:id, :host, :pid, :queues, :concurrency, :lease_s, :schedules, :started_at,
    :last_seen)
ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen

-- name: beat
UPDATE workers SET last_seen = :now WHERE id = :id

-- name: forget_stale_workers
-- Workers that stopped beating for their lease_s: gone (their tasks' leases lapsed too).
DELETE FROM workers WHERE last_seen + lease_s < :now AND id <> :id

-- name: retire
DELETE FROM workers WHERE id = ?

-- name: live_workers
SELECT {worker_columns} FROM workers WHERE last_seen + lease_s >= :now ORDER BY started_at, id

-- name: running_tasks
-- What every worker runs now: only the running tasks, through tasks_status_seq.
SELECT worker_id, id FROM tasks WHERE worker_id IS NOT NULL AND status = 'running'
ORDER BY seq

-- name: last_tick
-- The newest tick task of an action: its key cron:<action>:<tick>. The LIKE repeats
-- tasks_cron_ticks's predicate word for word, so SQLite uses that index.
SELECT idempotency_key FROM tasks
WHERE idempotency_key LIKE 'cron:%' AND action = :action
    AND substr(idempotency_key, 1, length(:prefix)) = :prefix
ORDER BY seq DESC LIMIT 1

-- name: ping
SELECT 1 FROM tasks LIMIT 0

-- The connection and its transactions (connection.py, writer.py).

-- name: journal_mode
PRAGMA journal_mode

-- name: use_wal
PRAGMA journal_mode = WAL

-- name: set_synchronous
-- {level}: FULL or NORMAL (checked by Settings); a PRAGMA takes no parameters.
PRAGMA synchronous = {level}

-- name: set_busy_timeout
PRAGMA busy_timeout = {ms}

-- name: begin
-- Take the write lock at the start, not at the first write: the transaction then never
-- fails half-way for want of it.
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: savepoint
-- One write of a round, apart from the others: its failure undoes only itself.
SAVEPOINT op

-- name: rollback_to_savepoint
ROLLBACK TO op

-- name: release_savepoint
RELEASE op

-- The keys table (0005; taskq/keys.py): each key's digest, never the key.
-- {key_columns} is a key row as every driver selects it (drivers/rows.py).

-- name: create_key
-- A name already taken stores nothing (no row changed).
INSERT INTO keys (name, scope, digest, created_at, last_used_at)
VALUES (:name, :scope, :digest, :created_at, :last_used_at)
ON CONFLICT (name) DO NOTHING

-- name: list_keys
SELECT {key_columns} FROM keys ORDER BY name

-- name: find_key
SELECT {key_columns} FROM keys WHERE digest = ?

-- name: has_keys
SELECT EXISTS (SELECT 1 FROM keys)

-- name: touch_key
UPDATE keys SET last_used_at = :now WHERE name = :name

-- name: revoke_key
DELETE FROM keys WHERE name = ?

-- GET /metrics (taskq/metrics.py): each scrape reads only what happened since the
-- previous one.

-- name: metrics_finished
-- The tasks that finished in (:after, :until], read through tasks_finished (its predicate
-- repeated word for word), by queue, action and status: how many, their attempts, how
-- many ran, how many of their attempts lease rescue ended (the :lease_lost entries of
-- errors), and over the completed and failed ones that ran, their wait and run times:
-- count, sums and, {wait_le} and {run_le}, one count per histogram bound
-- (metrics.bucket_sums).
WITH finished AS (
    SELECT queue, action, status, attempts, errors,
        CASE WHEN status <> 'cancelled' THEN started_at - run_at END AS wait_s,
        CASE WHEN status <> 'cancelled' THEN processed_at - started_at END AS run_s
    FROM tasks
    WHERE status IN ('completed', 'failed', 'cancelled')
        AND processed_at > :after AND processed_at <= :until)
SELECT queue, action, status, count(*), sum(attempts), count(CASE WHEN attempts > 0 THEN 1 END),
    sum(CASE WHEN errors = '[]' THEN 0 ELSE (
        SELECT count(*) FROM json_each(errors)
        WHERE json_extract(value, '$.error') = :lease_lost) END),
    count(wait_s), sum(wait_s), sum(run_s), {wait_le}, {run_le}
FROM finished
GROUP BY queue, action, status

-- name: metrics_submitted
-- The tasks stored after seq :after (the rowid: a range of the table itself), up to but
-- excluding the first one created after :until (a row still in flight, or from a clock
-- ahead, is counted by the next scrape), by queue and action, with the last seq counted.
WITH fresh AS (SELECT seq, queue, action, created_at FROM tasks WHERE seq > :after)
SELECT queue, action, count(*), max(seq) FROM fresh
WHERE seq < coalesce((SELECT min(seq) FROM fresh WHERE created_at > :until),
    9223372036854775807)
GROUP BY queue, action

-- name: metrics_seq_before
-- Where counting submissions starts: the newest task created by :at, walking the rowid
-- back from the newest (as many rows as were stored since :at).
SELECT seq FROM tasks WHERE created_at <= :at ORDER BY seq DESC LIMIT 1

-- Flow control (0006; taskq/flow.py): the queues table. Every claim reads it in its own
-- write transaction; with one writer, what it reads cannot move before the claim commits.

-- name: flow_controls
-- The queues a claim holds back: paused ones, and limited ones with their running tasks
-- (through tasks_queue_status) and their starts in the rate's window, later ones too (see
-- taskq/flow.py). Read when held_back says some queue is held back.
SELECT {queue_columns},
    CASE WHEN concurrency IS NOT NULL THEN
        (SELECT count(*) FROM tasks WHERE queue = queues.name AND status = 'running') END,
    CASE WHEN rate_limit IS NOT NULL THEN
        (SELECT count(*) FROM queue_starts
         WHERE queue = queues.name AND at > :now - queues.rate_period_s) END
FROM queues WHERE paused = 1 OR concurrency IS NOT NULL OR rate_limit IS NOT NULL

-- name: record_starts
-- The starts of a rated queue's tasks a claim made (:queues, one name per start, a JSON
-- list), each at the claim's time.
INSERT INTO queue_starts (queue, at) SELECT value, :now FROM json_each(:queues)

-- name: forget_starts
-- Starts no claim needs any more: before the window, by more than a slow claim lags.
DELETE FROM queue_starts WHERE queue = :queue AND at <= :before

-- name: not_held_back
-- Added to a ready_* statement under flow control: the paused and limited queues' tasks
-- are left to the rest of the claim.
AND queue NOT IN (SELECT value FROM json_each(:held_back))

-- name: ready_in_limited_queue
-- What a limited queue with room may give: up to :room tasks without a key, in claim order
-- (its keyed tasks are taken, within its room, with the others keyed).
SELECT seq FROM tasks INDEXED BY tasks_ready_by_queue
WHERE status = 'queued' AND worker_id IS NULL AND run_at <= :now AND queue = :queue
    AND concurrency_key IS NULL
ORDER BY priority DESC, run_at, seq
LIMIT :room

-- name: held_back
-- Whether a claim needs flow control, in one read: some queue paused or limited (then its
-- settings are read: flow_controls), some task with a concurrency key queued (a probe of
-- tasks_keyed_ready, 0010). Most stores answer no, no: the claim is the plain one.
SELECT
    EXISTS (SELECT 1 FROM queues
            WHERE paused = 1 OR concurrency IS NOT NULL OR rate_limit IS NOT NULL),
    EXISTS (SELECT 1 FROM tasks INDEXED BY tasks_keyed_ready
            WHERE concurrency_key IS NOT NULL AND status = 'queued')

-- name: key_concurrencies
SELECT name, key_concurrency FROM queues WHERE key_concurrency IS NOT NULL

-- name: keyed_running
-- The running tasks of each concurrency key (through tasks_keyed_running).
SELECT queue, concurrency_key, count(*) FROM tasks
WHERE concurrency_key IS NOT NULL AND status = 'running'
GROUP BY queue, concurrency_key

-- name: keyed_ready
-- The first ready keyed tasks in claim order, of the worker's queues (:queues, a JSON list,
-- or NULL: all) but the :paused ones, with the keys at their limit (:full, "queue\x1fkey")
-- left out: a busy key does not hide the others' tasks behind it.
SELECT seq, queue, concurrency_key FROM tasks INDEXED BY tasks_keyed_ready
WHERE concurrency_key IS NOT NULL AND status = 'queued' AND worker_id IS NULL
    AND run_at <= :now
    AND (:queues IS NULL OR queue IN (SELECT value FROM json_each(:queues)))
    AND queue NOT IN (SELECT value FROM json_each(:paused))
    AND queue || char(31) || concurrency_key NOT IN (SELECT value FROM json_each(:full))
ORDER BY priority DESC, run_at, seq
LIMIT :window

-- name: claim_controlled
-- The claim under flow control: the ready tasks of the queues not held back ({ready}, with
-- not_held_back) and the :limited ones (ready_in_limited_queue's, a JSON list), together
-- in claim order, the first :start started as in claim. A limited queue's task is taken
-- only to start: never prefetched, so its running tasks are all it holds.
WITH candidates AS (
    SELECT seq, 0 AS is_limited FROM tasks WHERE seq IN ({ready})
    UNION ALL
    SELECT value, 1 FROM json_each(:limited)),
ranked AS (
    SELECT t.seq, c.is_limited,
        row_number() OVER (ORDER BY t.priority DESC, t.run_at, t.seq) AS nth
    FROM candidates c JOIN tasks t ON t.seq = c.seq),
picked AS (
    SELECT seq, nth <= :start AS starts FROM ranked
    WHERE nth <= :start OR (NOT is_limited AND nth <= :n))
UPDATE tasks SET worker_id = :worker, lease_expires_at = :lease,
    status = CASE WHEN picked.starts THEN 'running' ELSE status END,
    attempts = attempts + picked.starts,
    started_at = CASE WHEN picked.starts THEN :now ELSE started_at END
FROM picked WHERE tasks.seq = picked.seq
RETURNING {columns}

-- name: update_queue
-- A queue's settings as flow.updated made them (read first in the same transaction).
INSERT INTO queues (name, paused, concurrency, updated_at, rate_limit, rate_period_s,
    key_concurrency)
VALUES (:name, :paused, :concurrency, :updated_at, :rate_limit, :rate_period_s,
    :key_concurrency)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused,
    concurrency = excluded.concurrency, updated_at = excluded.updated_at,
    rate_limit = excluded.rate_limit, rate_period_s = excluded.rate_period_s,
    key_concurrency = excluded.key_concurrency

-- name: queue_settings
-- {queue_columns} is a queues row as every driver selects it (drivers/rows.py).
SELECT {queue_columns} FROM queues ORDER BY name

-- name: one_queue_settings
SELECT {queue_columns} FROM queues WHERE name = ?
