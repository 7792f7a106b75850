"""The HTTP layer: a Starlette app over the core's Queue (and, for `taskq run`, a Worker).

``create_app`` is imported on first use, so that the client can read ``taskq.api.wire``
(the request and answer types) without loading Starlette.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from taskq.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name != "create_app":
        raise AttributeError(f"module 'taskq.api' has no attribute {name!r}")
    from taskq.api.app import create_app

    return create_app
