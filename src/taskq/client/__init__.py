"""The Python client of the taskq HTTP API: ``Client`` (blocking) and ``AsyncClient``.

```python
with taskq.Client("http://127.0.0.1:8080", api_key=key) as client:
    task = client.wait(client.submit("uppercase", {"text": "hi"}).id)
```

It loads no server code (no Starlette, no database driver): only httpx and msgspec.
"""

from taskq.client.asyncio import AsyncClient
from taskq.client.errors import (
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
from taskq.client.sync import Client
from taskq.client.wire import (
    Accepted,
    AttemptError,
    Queues,
    QueueStats,
    Stats,
    Submission,
    Task,
)

__all__ = [
    "Accepted",
    "AsyncClient",
    "AttemptError",
    "Client",
    "ClientError",
    "Conflict",
    "ConnectionFailed",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "QueueStats",
    "Queues",
    "ServerError",
    "Stats",
    "Submission",
    "Task",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
]
