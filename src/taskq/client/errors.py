"""What the client raises: one base class, one subclass per kind of answer.

Each carries the API's ``error`` text, the ``field`` at fault (when the API named one) and
the HTTP ``status_code`` (None when no answer came). None of them ever holds the API key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taskq.client.wire import Task


class ClientError(Exception):
    """Base of every error the client raises."""

    def __init__(self, error: str, *, field: str | None = None, status_code: int | None = None):
        self.error = error
        self.field = field
        self.status_code = status_code
        where = f"field {field!r}, " if field else ""
        said = f" ({where}HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"{error}{said}")


class InvalidRequest(ClientError):
    """The service refused the request as it was (400, 422 and any other 4xx below)."""


class Unauthorized(ClientError):
    """No valid API key (401): none was given once one exists, or it is unknown or revoked."""


class Forbidden(ClientError):
    """The key's scope is too small for this request (403)."""


class NotFound(ClientError):
    """No task has this id (404)."""


class Conflict(ClientError):
    """The task is not in a state that allows this (409), or an idempotency key was used
    for another body."""


class Unavailable(ClientError):
    """The service answered 503 (its store is unavailable) on every try."""


class ConnectionFailed(Unavailable):
    """The service could not be reached, or the connection broke, on every try."""


class ServerError(ClientError):
    """Any other 5xx answer."""


class WaitTimeout(ClientError, TimeoutError):
    """``wait()`` ran out of time before the task finished; ``task`` is its last state."""

    def __init__(self, task: Task, timeout_s: float) -> None:
        super().__init__(
            f"task {task.id} is still {task.status.value} after waiting {timeout_s:g} s"
        )
        self.task = task
        self.timeout_s = timeout_s


# The exception for each status the API documents; any other 4xx is an InvalidRequest and
# any other 5xx a ServerError.
BY_STATUS: dict[int, type[ClientError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


def error_for(status_code: int, error: str, field: str | None) -> ClientError:
    """The exception for an error answer."""
    kind = BY_STATUS.get(status_code) or (InvalidRequest if status_code < 500 else ServerError)
    return kind(error, field=field, status_code=status_code)
