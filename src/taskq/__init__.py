"""taskq: a durable task-queue service for Python.

The public API: ``action`` marks a handler; ``Fail`` and ``Retry`` steer a failing one,
``is_cancelled`` tells a long sync one to stop;
``Queue`` submits and reads tasks; ``Worker`` runs them; ``Client`` and ``AsyncClient``
drive a running service over HTTP, raising ``ClientError`` and its subclasses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# What a handler module needs is light (the standard library only) and imported now.
from taskq.actions import Actions, Fail, Retry, action, is_cancelled

if TYPE_CHECKING:
    from taskq.client import (
        AsyncClient,
        Client,
        ClientError,
        Conflict,
        ConnectionFailed,
        Forbidden,
        InvalidRequest,
        NotFound,
        ServerError,
        Unauthorized,
        Unavailable,
        WaitTimeout,
    )
    from taskq.migrations import migrate
    from taskq.queue import Queue
    from taskq.task import NewTask, Status, Task
    from taskq.worker import Worker

__version__ = "0.1.0"

__all__ = [
    "Actions",
    "AsyncClient",
    "Client",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Fail",
    "Forbidden",
    "InvalidRequest",
    "NewTask",
    "NotFound",
    "Queue",
    "Retry",
    "ServerError",
    "Status",
    "Task",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
    "Worker",
    "__version__",
    "action",
    "is_cancelled",
    "migrate",
]

# The rest pulls in the database drivers, yoyo, pydantic and croniter (the client: httpx):
# imported on first use, so that `import taskq` in a handler module (often in a process
# that never touches the store) costs none of them.
_LAZY = {
    "migrate": "taskq.migrations",
    "Queue": "taskq.queue",
    "NewTask": "taskq.task",
    "Status": "taskq.task",
    "Task": "taskq.task",
    "Worker": "taskq.worker",
    # the HTTP client: httpx, and none of the server's dependencies
    **dict.fromkeys(
        [
            "AsyncClient",
            "Client",
            "ClientError",
            "Conflict",
            "ConnectionFailed",
            "Forbidden",
            "InvalidRequest",
            "NotFound",
            "ServerError",
            "Unauthorized",
            "Unavailable",
            "WaitTimeout",
        ],
        "taskq.client",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'taskq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
