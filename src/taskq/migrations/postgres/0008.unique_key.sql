-- depends: 0007.trace_context
-- Unique while active (NewTask.unique_key): at most one task holding a key is queued or
-- running at a time. The partial unique index is that rule, so concurrent submissions
-- cannot both win; a finished task leaves it, freeing the key. The second index finds the
-- newest task that held a key (the one a refused submission answers with), whatever its
-- status. Both hold only the rows that have a key: tasks without one cost nothing.
ALTER TABLE taskq_tasks ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX taskq_tasks_unique_active ON taskq_tasks (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued', 'running');
CREATE INDEX taskq_tasks_unique_key ON taskq_tasks (unique_key, seq) WHERE unique_key IS NOT NULL;
