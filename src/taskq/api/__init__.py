"""The HTTP layer: a Starlette app over the core's Queue (and, for `taskq run`, a Worker)."""

from taskq.api.app import create_app

__all__ = ["create_app"]
