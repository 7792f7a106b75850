"""taskq: a durable task-queue service for Python.

The public API: ``action`` marks a handler; ``Fail`` and ``Retry`` steer a failing one,
``is_cancelled`` tells a long sync one to stop;
``Queue`` submits and reads tasks; ``Worker`` runs them.
"""

__version__ = "0.1.0"

from taskq.actions import Actions, Fail, Retry, action, is_cancelled
from taskq.migrations import migrate
from taskq.queue import Queue
from taskq.task import NewTask, Status, Task
from taskq.worker import Worker

__all__ = [
    "Actions",
    "Fail",
    "NewTask",
    "Queue",
    "Retry",
    "Status",
    "Task",
    "Worker",
    "__version__",
    "action",
    "is_cancelled",
    "migrate",
]
