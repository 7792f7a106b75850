"""The domain errors of taskq; the HTTP layer and the CLI map these in one place each."""


class TaskqError(Exception):
    """Base of every error taskq raises on purpose."""


class InvalidTask(TaskqError):
    """A task submission that can never be valid (bad field, bad type)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TaskNotFound(TaskqError):
    """No task has this id."""


class TaskConflict(TaskqError):
    """The task is not in a state that allows this operation (e.g. cancelling a finished task)."""


class StoreUnavailable(TaskqError):
    """The database cannot be reached or used right now; the caller may try again."""


class SchemaMismatch(TaskqError):
    """The database schema is older (migrations pending) or newer than this taskq."""
