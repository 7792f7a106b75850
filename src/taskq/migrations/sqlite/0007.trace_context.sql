-- depends: 0006.queues
-- The W3C trace context of a task's submission (taskq/tracing.py): its traceparent, then,
-- on a second line, its tracestate when it has one. NULL when the submitting process did
-- not trace. A worker's span for the task's first attempt is a child of it, later attempts
-- link to it. Adding a nullable column without a default rewrites no row.
ALTER TABLE tasks ADD COLUMN trace_context TEXT;
