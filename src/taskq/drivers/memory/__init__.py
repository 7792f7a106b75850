"""The in-memory driver: ``driver`` (the verbs), ``store`` (the rows of each URL),
``stats`` (GET /queues and /stats counted over them), ``roster`` (the workers table)."""

from taskq.drivers.memory.driver import SCHEME, MemoryDriver
from taskq.drivers.memory.store import forget, stores

__all__ = ["SCHEME", "MemoryDriver", "forget", "stores"]
