"""The worker: claims tasks, runs their actions, records what came of them.

``loop`` is the consumer itself; each of its parts is a module named for its job:
``attempt`` (running one attempt), ``outcomes`` (writing starts and results),
``retry`` (the retry policy), ``buffer`` (prefetched tasks), ``identity`` (worker ids),
and the chores ``lease_rescue``, ``cancellations``, ``retention`` and ``cron``.
"""

from taskq.worker.identity import LOCAL_KEY, PROCESS_TOKEN, is_dead_local_worker, new_worker_id
from taskq.worker.loop import Worker
from taskq.worker.retry import backoff_s

__all__ = [
    "LOCAL_KEY",
    "PROCESS_TOKEN",
    "Worker",
    "backoff_s",
    "is_dead_local_worker",
    "new_worker_id",
]
